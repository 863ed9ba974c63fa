"""The offline designer reads direction, sign and region words of a description against the fields' sign conventions."""

from __future__ import annotations

from pathlib import Path

import pytest

from rewardsmith.agent.design.designers.base import DesignRequest
from rewardsmith.agent.design.designers.offline import OfflineDesigner
from rewardsmith.agent.design.designers.terms import Genome
from rewardsmith.agent.design.extract import extract_reward
from rewardsmith.agent.goal.reading import directions, field_direction, region_goals
from rewardsmith.envs.adapters.classic import CartPoleAdapter, MountainCarContinuousAdapter, PendulumAdapter
from rewardsmith.envs.tasks import builtin_task_files, load_task

ROOT = Path(__file__).resolve().parents[3]


def _first(task: str) -> tuple[Genome, str]:
    t = load_task(task)
    code = extract_reward(OfflineDesigner().propose(DesignRequest(task=t, round=1, k=1, seed=0, messages=(), history=()))[0].text).code
    genome = Genome.from_code(code)
    assert genome is not None
    return genome, code


def test_direction_words_are_normalised_and_counter_clockwise_is_not_clockwise() -> None:
    assert directions("spin it anticlockwise") == {"counter-clockwise"}
    assert directions("Make the pendulum spin counter-clockwise") == {"counter-clockwise"}
    assert directions("turn clockwise, then hop backwards") == {"clockwise", "backward"}


def test_each_motion_field_documents_its_sign_convention() -> None:
    fields = {f.name: f for f in PendulumAdapter.spec.fields}
    assert field_direction(fields["angular_velocity"]) == "counter-clockwise"
    assert field_direction({f.name: f for f in MountainCarContinuousAdapter.spec.fields}["velocity"]) == "right"
    assert field_direction({f.name: f for f in CartPoleAdapter.spec.fields}["cart_velocity"]) == "right"


@pytest.mark.parametrize(("words", "sign"), [("counter-clockwise", 1), ("clockwise", -1)])
def test_a_spin_direction_becomes_a_signed_angular_velocity_term_without_holding_upright(words: str, sign: int,
                                                                                         tmp_path: Path) -> None:
    task = (ROOT / "examples" / "pendulum-spin" / "pendulum-spin.toml").read_text().replace("counter-clockwise", words)
    path = tmp_path / "spin.toml"
    path.write_text(task.replace('"fitness.py:', f'"{ROOT}/examples/pendulum-spin/fitness.py:'))
    genome, _ = _first(str(path))
    terms = {t.name: t for t in genome.terms}
    assert terms["angular_velocity_progress"].sign == sign
    assert "angle_closeness" not in terms and "angular_velocity_damping" not in terms


def test_reversed_direction_on_a_walker_rewards_minus_x() -> None:
    genome, _ = _first(str(ROOT / "examples" / "swimmer-backward" / "swimmer-backward.toml"))
    assert {t.name: t.sign for t in genome.terms}["x_velocity_progress"] == -1


def test_a_region_to_hold_becomes_the_fields_target() -> None:
    assert region_goals(CartPoleAdapter.spec, "keep the cart near 1.0 m") == {"cart_position": (1.0, "hold")}
    assert region_goals(CartPoleAdapter.spec, "stay beyond -1.5") == {"cart_position": (-1.5, "reach_at_most")}
    assert region_goals(PendulumAdapter.spec, "hold the angle above 0.5") == {"angle": (0.5, "reach_at_least")}
    genome, code = _first(str(ROOT / "examples" / "cartpole-hold-right" / "cartpole-hold-right.toml"))
    names = {t.name for t in genome.terms}
    assert "cart_position_closeness" in names and "TARGET_CART_POSITION = 1.0" in code
    assert "cart_velocity_progress" not in names  # "right of the centre" says where, not which way to keep moving


@pytest.mark.parametrize("name", sorted(builtin_task_files()))
def test_built_in_tasks_keep_their_structure(name: str) -> None:
    genome, _ = _first(name)
    assert genome.terms  # no built-in description is read as a spin or a reversed direction
    assert all(t.sign == 1 for t in genome.terms if t.kind == "progress" and t.field in ("x_velocity", "velocity"))


def test_field_docs_name_no_task_goal() -> None:
    for f in (*CartPoleAdapter.spec.fields, *PendulumAdapter.spec.fields, *MountainCarContinuousAdapter.spec.fields):
        assert not any(w in f.doc.lower() for w in ("keep", "goal", "should", "try to")), f.doc

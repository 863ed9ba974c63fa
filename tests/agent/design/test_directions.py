"""The offline designer reads direction, sign and region words of a description against the fields' sign conventions."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from rewardsmith.agent.design.designers.base import DesignRequest
from rewardsmith.agent.design.designers.offline import OfflineDesigner
from rewardsmith.agent.design.designers.terms import Genome, term_pool
from rewardsmith.agent.design.extract import extract_reward
from rewardsmith.agent.goal.reading import directions, field_direction
from rewardsmith.agent.goal.targets import region_goals, stated_targets
from rewardsmith.agent.goal.task_goal import fitness_doc, goal_spec, task_goal
from rewardsmith.core.state import StateSpec
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


# -- targets a description states as numbers with units (issue 26, item 11) ----------------------------
@pytest.mark.parametrize(("spec", "words", "field", "value", "kind"), [
    (CartPoleAdapter.spec, "Lean the pole 5 degrees to the left and hold it there.", "pole_angle", -5 * math.pi / 180, "hold"),
    (CartPoleAdapter.spec, "lean the pole 0.1 rad to the right", "pole_angle", 0.1, "hold"),
    (CartPoleAdapter.spec, "Keep the cart near 1.0 m, left of the centre of the track.", "cart_position", -1.0, "hold"),
    (CartPoleAdapter.spec, "Keep the cart near 1.0 m, right of the centre of the track.", "cart_position", 1.0, "hold"),
    (CartPoleAdapter.spec, "keep the cart 50 cm to the left", "cart_position", -0.5, "hold"),
    (CartPoleAdapter.spec, "push the cart more than 2 m to the left", "cart_position", -2.0, "reach_at_most"),
    (CartPoleAdapter.spec, "Make the cart reach 1.5 m to the right.", "cart_position", 1.5, "reach_at_least"),
    (PendulumAdapter.spec, "Hold the pendulum at 90 degrees counter-clockwise of upright.", "angle", math.pi / 2, "hold"),
    (PendulumAdapter.spec, "hold the pendulum 45 degrees clockwise of upright", "angle", -math.pi / 4, "hold"),
    (PendulumAdapter.spec, "spin clockwise at 30 rpm", "angular_velocity", -math.pi, "hold"),
    (load_task("hopper").adapter.spec, "Hop in place and keep the torso 1.3 m above the ground.", "torso_height", 1.3, "hold"),
    (load_task("hopper").adapter.spec, "hold the torso 130 cm up", "torso_height", 1.3, "hold"),
])
def test_a_number_with_a_unit_becomes_a_target_in_the_fields_unit_and_sign(spec: StateSpec, words: str, field: str,
                                                                           value: float, kind: str) -> None:
    got = stated_targets(spec, words)
    assert list(got) == [field]
    assert got[field].value == pytest.approx(value) and got[field].kind == kind
    read = {f.name: f for f in goal_spec(spec, words).fields}[field]  # the analyzer's goal reads it the same
    assert read.target == pytest.approx(value) and read.target_kind == kind


def test_a_tolerance_a_count_or_a_place_no_field_has_is_not_a_target() -> None:
    assert stated_targets(CartPoleAdapter.spec, "Balance the pole for 500 steps within 0.25 m of the middle.") == {}
    assert stated_targets(load_task("reacher").adapter.spec, "hold the tip 0.2 m above the table") == {}  # no height


def _task_file(tmp_path: Path, description: str, env: str = "CartPole-v1") -> str:
    (tmp_path / "fitness.py").write_text('def score(episode):\n    """Steps of the episode."""\n    return 1.0\n')
    path = tmp_path / "task.toml"
    path.write_text(f'name = "custom"\nenv = "{env}"\ndescription = "{description}"\nfitness = "fitness.py:score"\n'
                    "[train]\nsteps = 1000\n")
    return str(path)


def test_the_offline_designer_holds_a_stated_angle_in_radians_with_its_sign(tmp_path: Path) -> None:
    genome, code = _first(_task_file(tmp_path, "Balance the pole leaning 5 degrees to the left of vertical."))
    assert "pole_angle_closeness" in {t.name for t in genome.terms}
    assert f"TARGET_POLE_ANGLE = {-5 * math.pi / 180!r}" in code


def test_the_offline_designer_rewards_no_upright_target_for_a_spin_task() -> None:
    task = load_task(str(ROOT / "examples" / "pendulum-spin" / "pendulum-spin.toml"))
    pool = {e.term.name for e in term_pool(task.adapter.spec, task.description)}
    assert not {n for n in pool if n.startswith("angle_")}, pool  # the built-in task's "upright" is not this task's
    completions = OfflineDesigner().propose(DesignRequest(task=task, round=1, k=4, seed=0, messages=(), history=()))
    for c in completions:
        code = extract_reward(c.text).code
        assert "TARGET_ANGLE" not in code and "state.angle" not in code


def test_the_fitness_doc_is_read_without_running_the_fitness_and_gives_a_direction(tmp_path: Path) -> None:
    (tmp_path / "fitness.py").write_text('raise SystemExit("never import me")\n\n\ndef turns(episode):\n'
                                         '    """Clockwise turns per episode (counter-clockwise ones count negative)."""\n')
    path = tmp_path / "task.toml"
    path.write_text('name = "spin"\nenv = "Pendulum-v1"\ndescription = "Make the pendulum spin as fast as it can."\n'
                    'fitness = "fitness.py:turns"\n[train]\nsteps = 1000\n')
    goal = task_goal(load_task(path))
    assert goal.fitness_doc == "Clockwise turns per episode (counter-clockwise ones count negative)."
    assert goal.directions == {"clockwise"}  # the description names none; the doc's aside is not a direction
    assert [(m.field, m.sign, m.word) for m in goal.motions] == [("angular_velocity", -1, "clockwise")]
    assert fitness_doc("upright_fraction", tmp_path).startswith("Fraction of steps")

"""The offline designer: valid code for every built-in task, honest labels, and search driven by critiques."""

from __future__ import annotations

from dataclasses import replace

import pytest

from rewardsmith.agent.design.designers.base import DesignRequest
from rewardsmith.agent.design.designers.offline import LABEL, OfflineDesigner
from rewardsmith.agent.design.designers.terms import Genome, Term
from rewardsmith.agent.design.extract import extract_reward
from rewardsmith.agent.records.results import Candidate, CandidateResult, Critique, Finding, SeriesStat
from rewardsmith.envs.evaluation import EvaluationResult, FitnessStats
from rewardsmith.envs.rollout import random_rollout
from rewardsmith.envs.tasks import builtin_task_files, load_task
from rewardsmith.sandboxes.static import check_source
from rewardsmith.sandboxes.validate import ValidationReport, validate_source

CLASSIC = ["cartpole", "pendulum", "mountain-car"]


def _request(task_name: str, rnd: int = 1, history: tuple[CandidateResult, ...] = (), k: int = 4) -> DesignRequest:
    return DesignRequest(task=load_task(task_name), round=rnd, k=k, seed=0, messages=(), history=history)


@pytest.mark.parametrize("task_name", sorted(builtin_task_files()))
def test_first_round_code_passes_the_static_check_for_every_task(task_name: str) -> None:
    completions = OfflineDesigner().propose(_request(task_name))
    assert len(completions) == 4
    codes = [extract_reward(c.text).code for c in completions]
    assert len(set(codes)) == 4, "the K candidates must differ"
    for c, code in zip(completions, codes, strict=True):
        assert c.designer == LABEL and "not a language model" in c.text
        report = check_source(code)
        assert report.ok, report.message()


@pytest.mark.parametrize("task_name", CLASSIC)
def test_first_round_code_passes_the_probe(task_name: str) -> None:
    task = load_task(task_name)
    sample = random_rollout(task, n=128, seed=0)
    code = extract_reward(OfflineDesigner().propose(_request(task_name, k=1))[0].text).code
    report = validate_source(code, task.adapter.spec, sample.states, sample.actions)
    assert report.accepted, report.message
    assert len(report.components) >= 2


def test_mountain_car_candidates_use_the_flag_and_momentum() -> None:
    genome = Genome.from_code(extract_reward(OfflineDesigner().propose(_request("mountain-car", k=1))[0].text).code)
    assert genome is not None
    names = {t.name for t in genome.terms}
    assert "position_reached" in names and "velocity_magnitude" in names
    assert "alive" not in names  # the episode ends on success: a per-step bonus would teach it to dawdle


def test_genome_round_trips_through_code_and_honours_edited_constants() -> None:
    task = load_task("cartpole")
    code = extract_reward(OfflineDesigner().propose(_request("cartpole", k=1))[0].text).code
    genome = Genome.from_code(code)
    assert genome is not None and genome.terms
    name = genome.terms[0].name
    edited = code.replace(f"W_{name.upper()} = {genome.terms[0].weight!r}", f"W_{name.upper()} = 7.5")
    assert edited != code
    again = Genome.from_code(edited)
    assert again is not None and again.terms[0].weight == 7.5
    assert task.adapter.spec  # the task still loads


def _result(cid: str, rnd: int, genome: Genome, fitness: float, flags: tuple[Finding, ...] = (),
            shares: dict[str, float] | None = None) -> CandidateResult:
    from rewardsmith.agent.design.designers.terms import to_code

    task = load_task("mountain-car")
    code = to_code(genome, task.adapter.spec, task.description, "test")
    cand = Candidate(id=cid, round=rnd, index=int(cid[-2:]), code=code, origin=LABEL)
    stats = FitnessStats(fitness, 0.0, (fitness,), (1,))
    return CandidateResult(candidate=cand, validation=ValidationReport(accepted=True, stage="probe", reason="ok", message="accepted"),
                           evaluation=EvaluationResult(stats, stats, 100.0, 1.0),
                           critique=Critique(candidate_id=cid, status="ok", text="", flags=flags, shares=shares or {}))


def test_refinement_acts_on_the_critique_of_the_best() -> None:
    speed = Term(kind="magnitude", field="velocity", weight=5.0)
    flag = Term(kind="reached", field="position", weight=10.0)
    best = _result("r01c01", 1, Genome((speed, flag)), 0.6, flags=(Finding("dominant", "velocity_magnitude"),),
                   shares={"velocity_magnitude": 0.95, "position_reached": 0.05})
    worse = _result("r01c02", 1, Genome((flag,)), 0.1)
    completions = OfflineDesigner().propose(_request("mountain-car", rnd=2, history=(best, worse)))
    first = completions[0]
    assert first.parent == "r01c01" and "dominant" in first.text
    child = Genome.from_code(extract_reward(first.text).code)
    assert child is not None
    by_name = {t.name: t for t in child.terms}
    assert by_name["velocity_magnitude"].weight == pytest.approx(5.0 * 0.3)
    assert by_name["position_reached"].weight == pytest.approx(10.0)


def test_going_the_wrong_way_strengthens_the_progress_term_on_that_field() -> None:
    # As the HalfCheetah hand-check saw: the body went backwards although its progress term paid the task's way.
    progress = Term(kind="progress", field="position", weight=1.0)
    alive = Term(kind="alive", field=None, weight=0.5)
    best = _result("r01c01", 1, Genome((progress, alive)), 0.1, flags=(Finding("wrong_direction", "position"),),
                   shares={"position_progress": 0.5, "alive": 0.5})
    first = OfflineDesigner().propose(_request("mountain-car", rnd=2, history=(best,), k=1))[0]
    assert "went the wrong way along `position`" in first.text
    child = Genome.from_code(extract_reward(first.text).code)
    assert child is not None
    by_name = {t.name: t for t in child.terms}
    assert by_name["position_progress"].weight == pytest.approx(2.0) and by_name["position_progress"].sign == 1
    assert by_name["alive"].weight == pytest.approx(0.5)


def test_later_rounds_never_repeat_an_evaluated_reward() -> None:
    g = Genome((Term(kind="reached", field="position", weight=10.0), Term(kind="magnitude", field="velocity", weight=0.5)))
    history = (_result("r01c01", 1, g, 0.5), _result("r01c02", 1, replace(g, terms=g.terms[:1]), 0.2))
    completions = OfflineDesigner().propose(_request("mountain-car", rnd=2, history=history, k=6))
    keys = {Genome.from_code(extract_reward(c.text).code).key() for c in completions}  # type: ignore[union-attr]
    assert len(keys) == 6
    assert not keys & {h.key() for h in (g, replace(g, terms=g.terms[:1]))}
    assert all(c.parent in ("r01c01", "r01c02") for c in completions)


def test_hacking_is_answered_by_rebalancing_not_by_deleting_the_term() -> None:
    # MountainCar, measured: the policy reached the flag early, then learned to swing forever because the
    # speed term paid more than finishing. Both findings name the speed term; it must change once.
    speed = Term(kind="magnitude", field="velocity", weight=0.5)
    flag = Term(kind="reached", field="position", weight=10.0)
    best = _result("r01c01", 1, Genome((flag, speed)), 0.87,
                   flags=(Finding("dominant", "velocity_magnitude"), Finding("reward_up_fitness_flat")),
                   shares={"velocity_magnitude": 0.97, "position_reached": 0.03})
    series = (SeriesStat(name="velocity_magnitude", samples=(87.0, 217.0), max=217.0, mean=150.0, min=87.0),
              SeriesStat(name="position_reached", samples=(10.0, 1.7), max=10.0, mean=6.0, min=1.7))
    assert best.critique is not None
    best = replace(best, critique=replace(best.critique, components=series))
    first = OfflineDesigner().propose(_request("mountain-car", rnd=2, history=(best,), k=1))[0]
    child = Genome.from_code(extract_reward(first.text).code)
    assert child is not None
    by_name = {t.name: t for t in child.terms}
    assert by_name["velocity_magnitude"].weight == pytest.approx(0.5)  # exploration is kept...
    assert by_name["position_reached"].weight == pytest.approx(434.0)  # ...and finishing now pays 2× more

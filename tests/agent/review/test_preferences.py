"""The synthetic preference oracle, Elo scores, hidden fitness, and the offline designer following a reviewer."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from rewardsmith.agent.design.designers import DesignRequest
from rewardsmith.agent.design.designers.offline import OfflineDesigner
from rewardsmith.agent.design.designers.terms import Genome
from rewardsmith.agent.design.extract import extract_reward
from rewardsmith.agent.records.results import Candidate, CandidateResult, Critique, Finding
from rewardsmith.agent.records.review import Guidance, HumanFeedback, LockedComponent, PairChoice, ReviewRequest
from rewardsmith.agent.review.preferences import PreferenceOracle, comparisons, hide_fitness, preference_scores
from rewardsmith.envs.backends.records import Checkpoint, TrainingResult
from rewardsmith.envs.evaluation import EvaluationResult, FitnessStats
from rewardsmith.envs.tasks import load_task
from rewardsmith.sandboxes.validate import ValidationReport


def _result(cid: str, fitness: float | None, code: str | None = None) -> CandidateResult:
    cand = Candidate(id=cid, round=int(cid[1:3]), index=int(cid[4:]), code=code, origin="test")
    evaluation = None
    if fitness is not None:
        stats = FitnessStats(fitness, 0.0, (fitness,), (1,))
        evaluation = EvaluationResult(stats, stats, 100.0, 1.0)
    checkpoint = Checkpoint(timesteps=2048, episodes=4, episode_length=100.0, fitness=fitness, env_return=5.0, reward_return=3.0, component_returns={"a": 1.0}, component_step_means={"a": 0.1})
    training = TrainingResult(status="ok", error=None, reward_kind="candidate", steps_done=2048, steps_planned=2048, wall_s=1.0, components=("a",), checkpoints=(checkpoint,), policy=None)
    critique = Critique(candidate_id=cid, status="ok", text=f"fitness {fitness}", flags=(Finding("fitness_zero"), Finding("constant", "a")))
    return CandidateResult(candidate=cand, validation=ValidationReport(accepted=True, stage="probe", reason="ok", message="", components=("a",)), training=training, evaluation=evaluation, critique=critique)


def test_oracle_without_noise_ranks_by_fitness_and_skips_untrained() -> None:
    results = {c: _result(c, f) for c, f in (("r01c01", 3.0), ("r01c02", 9.0), ("r01c03", 1.0), ("r01c04", None))}
    request = ReviewRequest(round=1, mode="oracle", candidates=tuple(results), incumbent=None)
    feedback = PreferenceOracle(noise=0.0).judge(request, results)
    assert (feedback.best, feedback.worst) == ("r01c02", "r01c03")


def test_oracle_noise_makes_mistakes_in_proportion() -> None:
    results = {"r01c01": _result("r01c01", 1.0), "r01c02": _result("r01c02", 1.1)}
    request = ReviewRequest(round=1, mode="oracle", candidates=tuple(results), incumbent=None)

    def wrong(noise: float) -> int:
        return sum(PreferenceOracle(noise, seed).judge(request, results).best == "r01c01" for seed in range(200))

    assert wrong(0.0) == 0
    assert 10 < wrong(1.0) < 100  # a noisy judge errs often, but less than a coin
    assert wrong(0.1) < wrong(1.0)


def test_elo_scores_follow_choices_across_rounds() -> None:
    r1 = HumanFeedback(round=1, reviewer="oracle", best="r01c02", worst="r01c01")
    r2 = HumanFeedback(round=2, reviewer="web", best="r02c01", pairs=(PairChoice("r02c02", "r01c02"),))
    assert ("r01c02", "r01c03") in comparisons(r1, ("r01c01", "r01c02", "r01c03"))
    scores = preference_scores([(r1, ("r01c01", "r01c02", "r01c03")), (r2, ("r02c01", "r02c02", "r01c02"))])
    assert scores["r02c01"] > scores["r01c03"] > scores["r01c01"]
    assert max(scores, key=lambda c: scores[c]) == "r02c01"


def test_hide_fitness_leaves_nothing_that_reveals_it() -> None:
    hidden = hide_fitness(_result("r01c01", 7.0))
    assert hidden.fitness is None and hidden.evaluation is None
    assert hidden.training is not None and all(cp.fitness is None and cp.env_return is None
                                               for cp in hidden.training.checkpoints)
    assert hidden.critique is not None and hidden.critique.flags == (Finding("constant", "a"),) and hidden.critique.text == ""
    assert hidden.training.checkpoints[0].component_returns == {"a": 1.0}


def _offline_history(task_name: str) -> tuple[list[CandidateResult], object]:
    task = load_task(task_name)
    first = OfflineDesigner().propose(DesignRequest(task=task, round=1, k=4, seed=0, messages=(), history=()))
    history = [_result(f"r01c0{i}", float(i), extract_reward(c.text).code) for i, c in enumerate(first, 1)]
    return history, task


def test_offline_designer_keeps_locked_terms_drops_forbidden_and_refines_the_chosen_best() -> None:
    history, task = _offline_history("cartpole")
    genomes = {r.candidate.id: Genome.from_code(r.candidate.code or "") for r in history}
    chosen = "r01c01"  # the lowest fitness: a reviewer's choice must win over fitness
    chosen_genome = genomes[chosen]
    assert chosen_genome is not None
    locked_term = chosen_genome.terms[0]
    forbidden = next(t.name for g in genomes.values() if g for t in g.terms
                     if t.name != locked_term.name)
    guide = Guidance(best=chosen, worst=("r01c04",), locked=(LockedComponent(locked_term.name, chosen),),
                     forbidden=(forbidden,))
    out = OfflineDesigner().propose(DesignRequest(task=task, round=2, k=4, seed=0, messages=(), history=tuple(history), guidance=guide))  # type: ignore[arg-type]
    assert out[0].parent == chosen
    for completion in out:
        genome = Genome.from_code(extract_reward(completion.text).code)
        assert genome is not None
        names = {t.name: t for t in genome.terms}
        assert names.get(locked_term.name) == locked_term, "a locked term must keep its form"
        assert forbidden not in names


def test_offline_designer_ranks_by_preference_when_fitness_is_hidden() -> None:
    history, task = _offline_history("cartpole")
    hidden = [hide_fitness(r) for r in history]
    guide = Guidance(scores={"r01c03": 1530.0, "r01c01": 1470.0}, preference_only=True)
    out = OfflineDesigner().propose(DesignRequest(task=task, round=2, k=3, seed=0, messages=(), history=tuple(hidden), guidance=guide))  # type: ignore[arg-type]
    assert out[0].parent == "r01c03"
    assert "preference score" in out[0].text and "fitness" not in out[0].text.split("```")[0].replace(
        "preference score", "")


def test_reviewed_run_directory_records_round_trip(tmp_path: Path) -> None:
    from rewardsmith.core.atomic import read_record, write_json

    feedback = HumanFeedback(round=1, reviewer="web", best="r01c01", locked=(LockedComponent("a", "r01c01", "W * x"),))
    write_json(tmp_path / "human.json", feedback)
    assert read_record(tmp_path / "human.json", HumanFeedback) == feedback
    assert replace(feedback, action="stop").action == "stop"


def test_preferences_only_feedback_text_quotes_no_fitness() -> None:
    from rewardsmith.agent.review.feedback import automatic_feedback, human_feedback

    results = [_result("r01c01", 0.7, "def compute_reward(state, action):\n    return 1\n"),
               _result("r01c02", 0.2, "def compute_reward(state, action):\n    return 2\n")]
    automatic = automatic_feedback(1, results, None)
    assert "0.7" in automatic.summary  # the automatic text does quote it ...
    human = HumanFeedback(round=1, reviewer="oracle", best="r01c02", worst="r01c01")
    merged = human_feedback(automatic, human, {r.candidate.id: r for r in results}, None, preference_only=True)
    assert merged.best_id == "r01c02" and merged.source == "human"
    assert "fitness" not in merged.summary.lower() and "0.7" not in merged.summary  # ... this one must not
    assert "return 1" in merged.summary  # the worst candidate's code, ICPL's bad example


@pytest.mark.slow
def test_preferences_only_run_improves_ground_truth_fitness(run_cli, tmp_path: Path) -> None:
    """The issue's measurement (~5 min): mountain-car, 3 rounds × 3 candidates, 60k steps, oracle noise 0.1.

    Measured 2026-11-27: selected best's selection fitness 0.534 → 0.789 → 1.0 (held-out 0.487 → 0.75 → 1.0).
    """
    import json

    run_cli("run", "mountain-car", "--rounds", "3", "--samples", "3", "--steps", "60000", "--no-baselines",
            "--final-seeds", "0", "--review", "oracle", "--preferences-only", "--oracle-noise", "0.1", "--workers", "2",
            "--out", str(tmp_path / "runs"), check=True, timeout=1500)
    (run,) = list((tmp_path / "runs").iterdir())
    best = [json.loads((run / f"round_{r:02d}" / "feedback.json").read_text())["best_fitness"] for r in (1, 2, 3)]
    assert best[2] > best[0], best

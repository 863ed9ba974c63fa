"""The terminal display never prints candidate-made text raw (escape sequences, OSC 52, screen clears)."""

from __future__ import annotations

import io

from rich.console import Console

from rewardsmith.agent.display import ProgressView


def test_a_note_with_terminal_control_sequences_is_shown_escaped() -> None:
    out = io.StringIO()
    view = ProgressView(Console(file=out, force_terminal=False, width=200), live=False)
    view.round_started(1, 1)
    forged = "boom\x1b]52;c;Y3VybCBldmlsLmV4YW1wbGU=\x07\x1b[2J\r  r01c01: accepted"
    view.update("r01c01", "crashed", note=forged)
    shown = out.getvalue()
    assert "\x1b" not in shown and "\x07" not in shown and "\r" not in shown
    assert "\\x1b]52" in shown  # visible, so a person can see something tried


# -- progress bars, ETA, piped output ---------------------------------------------------------------
import time  # noqa: E402

import pytest  # noqa: E402

from rewardsmith.agent.train.executors.base import ExecutorEvent, StepOutcome, StepStatus  # noqa: E402
from rewardsmith.agent.train.plan import RunPlan, StepBudget  # noqa: E402

PLAN = RunPlan(rounds=2, samples=2, baselines=0, final_seeds=0, final_arms=1, workers=2,
               budget=StepBudget(requested=5000, steps=6144, rollout=2048, n_steps=256, n_envs=8))


def test_a_training_past_its_budget_never_shows_more_than_100_percent() -> None:
    out = io.StringIO()
    view = ProgressView(Console(file=out, force_terminal=True, width=200), live=True, plan=PLAN)
    view.round_started(1, 2)
    view.executor_event(ExecutorEvent(key="r01c01", kind="train", state="started"))
    view.executor_event(ExecutorEvent(key="r01c01", kind="train", state="progress", fraction=6144 / 5000))
    view.stop()
    assert view.rows["r01c01"].fraction == 1.0
    assert "100%" in out.getvalue() and "123%" not in out.getvalue()


def test_piped_output_prints_a_status_line_while_a_long_training_runs() -> None:
    out = io.StringIO()
    view = ProgressView(Console(file=out, force_terminal=False, width=200), live=False, plan=PLAN, heartbeat_s=0.2)
    view.round_started(1, 2)
    view.executor_event(ExecutorEvent(key="r01c01", kind="train", state="started"))
    time.sleep(0.05)
    view.executor_event(ExecutorEvent(key="r01c01", kind="train", state="progress", fraction=0.25))
    deadline = time.monotonic() + 10
    while "steps/s" not in out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.1)
    view.stop()
    line = next(ln for ln in out.getvalue().splitlines() if "steps/s" in ln)
    assert "r01c01 25%" in line and "round 1 ~" in line and "the run ~" in line


def test_eta_counts_the_queued_trainings_and_the_rounds_left() -> None:
    view = ProgressView(Console(file=io.StringIO()), live=False, plan=PLAN)
    view.round_started(1, 2)
    _event(view, "r01c01", "train", "started")
    view.rows["r01c01"].step_started = time.monotonic() - 10.0
    _event(view, "r01c01", "train", "progress", fraction=0.5)  # 20 s per training
    eta = view.eta()
    view.stop()
    assert eta.training_rate == pytest.approx(0.05 * 6144, rel=0.05)
    # this one: 10 s left; one more of this round queued on 2 workers: +10 s; round 2: 1 wave of 20 s
    assert eta.stage_s == pytest.approx(20.0, rel=0.05)
    assert eta.run_s == pytest.approx(40.0, rel=0.05)


def _event(view: ProgressView, key: str, kind: str, state: str, *, fraction: float = 0.0, wall_s: float = 0.0,
           status: StepStatus = "ok") -> None:
    outcome = StepOutcome(kind, status, wall_s) if state == "ended" else None  # type: ignore[arg-type]
    view.executor_event(ExecutorEvent(key=key, kind=kind, state=state, fraction=fraction, outcome=outcome))


def _pipeline(view: ProgressView, key: str, train_s: float = 20.0, evaluate_s: float = 4.0) -> None:
    """A target's training and evaluation, started and ended (the times are the outcomes' wall seconds)."""
    for kind, wall in (("train", train_s), ("evaluate", evaluate_s)):
        _event(view, key, kind, "started")
        _event(view, key, kind, "ended", wall_s=wall)


FINAL = RunPlan(rounds=1, samples=2, baselines=2, final_seeds=3, final_arms=3, workers=2,
                budget=StepBudget(requested=6144, steps=6144, rollout=2048, n_steps=256, n_envs=8))


def test_the_eta_moves_through_the_final_comparison_from_the_jobs_of_this_run() -> None:
    view = ProgressView(Console(file=io.StringIO()), live=False, plan=FINAL)
    view.round_started(1, 1)
    for key in ("r01c01", "r01c02", "human", "sparse"):  # round 1: trainings took 20 s, evaluations 4 s
        _pipeline(view, key)
    view.stop()
    view.final_started("final comparison: r01c01 retrained on 3 fresh seeds, with both baselines")
    # 9 pipelines of 24 s on 2 workers: 5 waves; nothing after the final comparison
    first = view.eta()
    assert first.stage_s == pytest.approx(120.0) and first.run_s == first.stage_s
    arms = [f"{arm} seed {s}" for arm in ("designed", "human", "sparse") for s in (1, 2, 3)]
    for key in arms[:2]:
        _event(view, key, "train", "started")
        view.rows[key].step_started = time.monotonic() - 10.0
        _event(view, key, "train", "progress", fraction=0.5)
    middle = view.eta()  # two at half way (10 s + their evaluation 4 s), 7 to start: 14 + 4 waves of 24 s
    assert middle.stage_s == pytest.approx(110.0, rel=0.02) and middle.run_s == middle.stage_s
    for key in arms[:8]:
        _pipeline(view, key, train_s=30.0, evaluate_s=6.0)  # the machine got busier: the last jobs' times count
    last = view.eta()
    view.stop()
    assert last.stage_s == pytest.approx(36.0, rel=0.02)
    assert first.run_s > middle.run_s > last.run_s  # type: ignore[operator]


def test_an_evaluation_that_ended_is_not_shown_as_evaluating() -> None:
    out = io.StringIO()
    view = ProgressView(Console(file=out, force_terminal=False, width=200), live=False, plan=PLAN)
    view.round_started(1, 2)
    for key in ("r01c01", "r01c02"):
        _event(view, key, "train", "started")
        _event(view, key, "train", "ended", wall_s=20.0)
        _event(view, key, "evaluate", "started")
    _event(view, "r01c01", "evaluate", "ended", wall_s=4.0)  # r01c02 still evaluates; the round is not over
    line = view.status_line()
    view.stop()
    assert view.rows["r01c01"].state == "evaluated" and view.rows["r01c02"].state == "evaluating"
    assert "evaluating r01c02" in line and "r01c01" not in line
    assert "r01c01: evaluated" in out.getvalue()
    _event(view, "r01c02", "evaluate", "ended", status="crashed")
    assert view.rows["r01c02"].state == "crashed"


def test_a_round_counts_its_validations_and_evaluations_and_a_program_that_trains_them_together() -> None:
    view = ProgressView(Console(file=io.StringIO()), live=False, plan=PLAN)
    view.round_started(1, 2)
    for key in ("r01c01", "r01c02"):
        view.update(key, "validating")
        view.rows[key].validating_since = time.monotonic() - 2.0  # a validation took 2 s
        view.update(key, "queued")
        _pipeline(view, key)
    view.stop()
    view.round_started(2, 2)
    eta = view.eta()  # 2 validations side by side (2 s), then 2 pipelines of 20 s training + 4 s evaluation
    view.stop()
    assert eta.stage_s == pytest.approx(26.0, rel=0.02) and eta.run_s == eta.stage_s

    jax = ProgressView(Console(file=io.StringIO()), live=False, plan=PLAN)
    jax.round_started(1, 2)
    for key in ("r01c01", "r01c02"):
        jax.update(key, "validating")
        jax.update(key, "queued")
    _event(jax, "jax round", "jax_round", "started")
    jax.rows["jax round"].step_started = time.monotonic() - 10.0
    _event(jax, "jax round", "jax_round", "progress", fraction=0.5)
    running = jax.eta()  # the program's other half (10 s); its targets' evaluations are not timed yet
    _event(jax, "jax round", "jax_round", "ended", wall_s=20.0)
    for key in ("r01c01", "r01c02"):
        _event(jax, key, "evaluate", "started")
        _event(jax, key, "evaluate", "ended", wall_s=4.0)
    jax.stop()
    jax.round_started(2, 2)
    after = jax.eta()  # round 2: one program (20 s), then 2 evaluations side by side (4 s)
    jax.stop()
    assert running.stage_s == pytest.approx(10.0, rel=0.05)
    assert after.stage_s == pytest.approx(24.0, abs=0.5) and after.run_s == after.stage_s

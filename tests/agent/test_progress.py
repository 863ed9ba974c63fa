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

from rewardsmith.agent.train.executors.base import ExecutorEvent  # noqa: E402
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
    assert "r01c01 25%" in line and "this round ~" in line and "the run ~" in line


def test_eta_counts_the_queued_trainings_and_the_rounds_left() -> None:
    view = ProgressView(Console(file=io.StringIO()), live=False, plan=PLAN)
    view.round = 1
    view.rows = {}
    view.update("r01c01", "training", fraction=0.0)
    view.rows["r01c01"].started = time.monotonic() - 10.0
    view.update("r01c01", "training", fraction=0.5)  # 20 s per training
    eta = view.eta()
    assert eta.training_rate == pytest.approx(0.05 * 6144, rel=0.05)
    # this one: 10 s left; one more of this round queued on 2 workers: +10 s; round 2: 1 wave of 20 s
    assert eta.round_s == pytest.approx(20.0, rel=0.05)
    assert eta.run_s == pytest.approx(40.0, rel=0.05)

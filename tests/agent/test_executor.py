"""The local executor: parallel job processes, wall-clock timeouts that kill, crashes reported."""

from __future__ import annotations

import time
from pathlib import Path

from agent.executor import ExecutorEvent, JobStep, LocalExecutor, Pipeline
from envs.training import TrainJob


def _step(tmp: Path, name: str, timeout: float, task_file: str = "/nonexistent.toml") -> JobStep:
    job = TrainJob(task_file, "env", None, 64, 0, str(tmp / name))
    return JobStep("train", job, tmp / name / "job.json", tmp / name / "train.log", timeout)


def test_a_crashing_step_is_reported_with_its_last_error_line_and_skips_the_rest(tmp_path: Path) -> None:
    pipe = Pipeline("a", (_step(tmp_path, "a", 60), _step(tmp_path, "a2", 60)))
    events: list[ExecutorEvent] = []
    outcomes = LocalExecutor(workers=1, poll_s=0.05).run([pipe], events.append)
    first, second = outcomes["a"]
    assert first.status == "crashed"
    assert "exit code" in first.detail and "nonexistent" in first.detail
    assert second.status == "skipped"
    assert [e.state for e in events if e.key == "a"] == ["started", "ended"]


def test_a_step_over_its_time_limit_is_killed(tmp_path: Path) -> None:
    task = Path(__file__).resolve().parents[2] / "envs" / "tasks" / "mountain-car.toml"
    step = JobStep("train", TrainJob(str(task), "env", None, 10_000_000, 0, str(tmp_path / "slow")),
                   tmp_path / "slow" / "job.json", tmp_path / "slow" / "train.log", timeout_s=3.0)
    started = time.monotonic()
    outcomes = LocalExecutor(workers=2, poll_s=0.05).run([Pipeline("slow", (step,))])
    elapsed = time.monotonic() - started
    assert outcomes["slow"][0].status == "timeout"
    assert elapsed < 20
    assert not (tmp_path / "slow" / "metrics.json").exists()

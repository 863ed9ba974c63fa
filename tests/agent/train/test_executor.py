"""The local executor: parallel job processes, wall-clock timeouts that kill, crashes reported."""

from __future__ import annotations

import time
from pathlib import Path

from rewardsmith.agent.rundir.store import TargetFiles
from rewardsmith.agent.train.executors.base import ExecutorEvent, JobStep, Pipeline
from rewardsmith.agent.train.executors.local import LocalExecutor
from rewardsmith.envs.backends.sb3.train import TrainJob


def _step(tmp: Path, name: str, timeout: float, task_file: str = "/nonexistent.toml") -> JobStep:
    job = TrainJob(task_file=task_file, reward_kind="env", reward_file=None, steps=64, seed=0, outputs=TargetFiles(tmp / name).train_outputs())
    return JobStep(kind="train", spec=job, spec_file=tmp / name / "job.json", log_file=tmp / name / "train.log", timeout_s=timeout)


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
    task = Path(__file__).resolve().parents[3] / "envs" / "tasks" / "mountain-car.toml"
    step = JobStep(kind="train", spec=TrainJob(task_file=str(task), reward_kind="env", reward_file=None, steps=10_000_000, seed=0, outputs=TargetFiles(tmp_path / "slow").train_outputs()),
                   spec_file=tmp_path / "slow" / "job.json", log_file=tmp_path / "slow" / "train.log", timeout_s=3.0)
    started = time.monotonic()
    outcomes = LocalExecutor(workers=2, poll_s=0.05).run([Pipeline("slow", (step,))])
    elapsed = time.monotonic() - started
    assert outcomes["slow"][0].status == "timeout"
    assert elapsed < 20
    assert not (tmp_path / "slow" / "metrics.json").exists()

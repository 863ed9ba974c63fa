"""The Ray executor on a local Ray instance (127.0.0.1 only): outputs come back into the run directory,
limits cancel from the orchestrator, crashes are reported like local ones."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rewardsmith.agent.rundir.store import RunStore, TargetFiles
from rewardsmith.agent.train.executors.base import ExecutorEvent, JobStep, Pipeline
from rewardsmith.core.atomic import read_record
from rewardsmith.envs.backends.records import TrainingResult
from rewardsmith.envs.backends.sb3.train import TrainJob
from rewardsmith.envs.evaluation import EvaluationResult, seed_sets

pytest.importorskip("ray")

from rewardsmith.agent.train.executors.ray import RayExecutor

TASK = Path(__file__).resolve().parents[3] / "envs" / "tasks" / "cartpole.toml"


def _train(files: TargetFiles, steps: int, timeout: float, task: Path = TASK) -> JobStep:
    job = TrainJob(task_file=str(task), reward_kind="env", reward_file=None, steps=steps, seed=0,
                   outputs=files.train_outputs())
    return JobStep(kind="train", spec=job, spec_file=files.job_spec("train"), log_file=files.job_log("train"),
                   timeout_s=timeout)


def test_on_ray_a_step_over_its_limit_is_cancelled_and_a_crash_says_why(tmp_path: Path) -> None:
    """The default suite's Ray test: a local instance (~11 s to start on the 2-core machine), two short steps."""
    store = RunStore(tmp_path)
    slow, broken = store.files(1, 1), store.files(1, 2)
    started = time.monotonic()
    with RayExecutor(tmp_path, workers=2) as ray_executor:
        outcomes = ray_executor.run([Pipeline("slow", (_train(slow, 10_000_000, 3.0),)),
                                     Pipeline("broken", (_train(broken, 64, 60, task=Path("/nonexistent.toml")),))])
    assert time.monotonic() - started < 90
    assert outcomes["slow"][0].status == "timeout" and not slow.metrics.exists()
    assert outcomes["broken"][0].status == "crashed" and "nonexistent" in outcomes["broken"][0].detail


@pytest.mark.slow
def test_pipelines_run_on_ray_their_files_come_back_limits_cancel_and_crashes_say_why(tmp_path: Path) -> None:
    """Three pipelines at once, one a real training + evaluation (~60 s on the loaded 2-core machine)."""
    store = RunStore(tmp_path)
    files, slow, broken = store.baseline_files("human"), store.files(1, 1), store.files(1, 2)
    selection, heldout = seed_sets(0, 1, 1)
    evaluate = JobStep(kind="evaluate", spec=files.eval_job(TASK, selection, heldout), spec_file=files.job_spec("eval"),
                       log_file=files.job_log("eval"), timeout_s=120)
    events: list[ExecutorEvent] = []
    started = time.monotonic()
    with RayExecutor(tmp_path, workers=3) as ray_executor:
        up = time.monotonic() - started
        outcomes = ray_executor.run([Pipeline("human", (_train(files, 2048, 120), evaluate)),
                                     Pipeline("slow", (_train(slow, 10_000_000, 6.0),)),
                                     Pipeline("broken", (_train(broken, 64, 60, task=Path("/nonexistent.toml")),))],
                                    events.append)
    print(f"Ray up in {up:.1f} s, pipelines done {time.monotonic() - started - up:.1f} s later")
    assert [o.status for o in outcomes["human"]] == ["ok", "ok"]
    assert outcomes["human"][0].cpu_s > 0
    training = read_record(files.metrics, TrainingResult)  # written here by the orchestrator, from the task's bytes
    assert training.trained and training.steps_done == 2048 and files.policy.is_file()
    assert read_record(files.fitness, EvaluationResult).heldout.values  # evaluated the policy it was sent
    assert [(e.kind, e.state) for e in events if e.key == "human"] == [
        ("train", "started"), ("train", "ended"), ("evaluate", "started"), ("evaluate", "ended")]
    assert outcomes["slow"][0].status == "timeout" and not slow.metrics.exists()
    assert outcomes["broken"][0].status == "crashed" and "nonexistent" in outcomes["broken"][0].detail

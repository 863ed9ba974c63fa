"""The jax round's job process: TensorBoard events per arm, a refused module failing its own arm only, and the
job's memory cap (a module that allocates far more than the cap ends the job with one clear line)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("jax")

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rewardsmith.agent.rundir.store import TargetFiles
from rewardsmith.core.atomic import read_record, write_bytes, write_json
from rewardsmith.envs.backends.jax.job import JaxArm, JaxRoundJob, run_round
from rewardsmith.envs.backends.records import TrainingResult
from rewardsmith.envs.tasks import builtin_task_files, load_task
from tests.envs.backends.jax import crafted

REPO = Path(__file__).resolve().parents[4]
SPEC = load_task("cartpole").adapter.spec


def _arm(tmp_path: Path, key: str, module: bytes | None = None) -> JaxArm:
    files = TargetFiles(tmp_path / key)
    if module is None:
        return JaxArm(key=key, reward_kind="env", outputs=files.train_outputs())
    write_bytes(files.dir / "reward.jaxexport", module)
    return JaxArm(key=key, reward_kind="candidate", module_file=str(files.dir / "reward.jaxexport"),
                  components=("up",), outputs=files.train_outputs())


def _job(tmp_path: Path, arms: list[JaxArm], task_file: Path | None = None, memory_mb: int | None = None,
         steps: int = 2048) -> JaxRoundJob:
    return JaxRoundJob(task_file=str(task_file or builtin_task_files()["cartpole"]), arms=tuple(arms), steps=steps,
                       seed=0, progress_file=str(tmp_path / "progress.json"), stats_file=str(tmp_path / "stats.json"),
                       memory_mb=memory_mb)


@pytest.mark.slow  # compiles a round (~10 s); test_jax_backend.py checks the events of a whole run by default
def test_each_arm_gets_tensorboard_events_and_a_refused_module_fails_its_own_arm_only(tmp_path: Path) -> None:
    arms = [_arm(tmp_path, "good", crafted.module(crafted.upright, SPEC)), _arm(tmp_path, "bad", b"not a module"),
            _arm(tmp_path, "human")]
    stats = run_round(_job(tmp_path, arms, steps=4096))
    assert stats is not None and stats.arms == 2  # the refused module is not in the program
    results = {a.key: read_record(Path(a.outputs.metrics_file), TrainingResult) for a in arms}
    bad = results["bad"]
    assert bad.status == "crashed" and (bad.error or "").startswith("its module was refused before training: ")
    assert results["good"].status == "ok" and results["human"].status == "ok"
    for arm in (arms[0], arms[2]):  # the SB3 backend's tags, one event per rollout at its env-step
        acc = EventAccumulator(arm.outputs.log_dir)
        acc.Reload()
        tags = set(acc.Tags()["scalars"])
        assert {"task/fitness", "task/episode_length", "train/policy_gradient_loss", "train/value_loss",
                "train/entropy_loss", "train/approx_kl"} <= tags, tags
        checkpoints = results[arm.key].checkpoints
        assert [e.step for e in acc.Scalars("task/episode_length")] == [cp.timesteps for cp in checkpoints]
        name = results[arm.key].components[0]
        assert [round(e.value, 4) for e in acc.Scalars(f"reward/{name}")] == [
            round(cp.component_step_means[name], 4) for cp in checkpoints]
    assert not Path(arms[1].outputs.log_dir).exists()


def test_the_cap_makes_an_allocation_past_it_fail_in_the_job_process() -> None:
    code = textwrap.dedent("""
        import numpy as np
        from rewardsmith.envs.backends.jax.job import cap_memory
        cap_memory(1024, "cpu")
        try:
            np.ones(2 << 30, dtype=np.uint8)
        except MemoryError:
            print("refused")
        cap_memory(None, "cpu")  # no cap asked: nothing changes
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "refused", proc.stderr


@pytest.mark.slow  # a jax job process that compiles (~10 s)
def test_a_module_that_allocates_far_past_the_cap_ends_the_job_with_one_clear_line(tmp_path: Path) -> None:
    # 2,048 envs: the module's sorted (2048, 2^19) float32 tensor is 4 GiB, its sort's output as much again.
    task = tmp_path / "cartpole-wide.toml"
    task.write_text(builtin_task_files()["cartpole"].read_text().replace("n_envs = 8", "n_envs = 2048")
                    .replace("n_steps = 256, batch_size = 256", "n_steps = 8, batch_size = 2048"))
    arms = [_arm(tmp_path, "bomb", crafted.module(crafted.bomb, SPEC)), _arm(tmp_path, "human")]
    spec = tmp_path / "job.json"
    write_json(spec, _job(tmp_path, arms, task, memory_mb=4096, steps=2048 * 8))
    proc = subprocess.run([sys.executable, "-m", "rewardsmith.envs.jobs", "jax_round", str(spec)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("out of memory: the round's program of 2 arms needed more than the job's 4096 MiB "
                           "memory cap"), proc.stderr[-2000:]
    assert not any(Path(a.outputs.metrics_file).exists() for a in arms)  # no arm is charged by the job itself

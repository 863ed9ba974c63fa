"""A training continued from RewardSmith's own checkpoint keeps its policy, Adam state and step count."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rewardsmith.agent.rundir.store import TargetFiles
from rewardsmith.envs.backends.records import TrainOutputs
from rewardsmith.envs.backends.sb3.train import ResumeFrom, TrainJob, train

TASK = Path(__file__).resolve().parents[4] / "envs" / "tasks" / "cartpole.toml"


def _outputs(d: Path) -> TrainOutputs:
    base = TargetFiles(d).train_outputs()
    return TrainOutputs(policy_file=base.policy_file, metrics_file=base.metrics_file,
                        progress_file=base.progress_file, log_dir=base.log_dir,
                        checkpoint_file=str(d / "state.npz"))


def test_a_resumed_training_continues_from_the_saved_policy_and_optimizer(tmp_path: Path) -> None:
    first = train(TrainJob(task_file=str(TASK), reward_kind="env", reward_file=None, steps=2048, seed=0,
                           outputs=_outputs(tmp_path / "a")))
    assert first.trained and first.steps_done == 2048 and first.resumed_from_steps == 0
    with np.load(tmp_path / "a" / "state.npz", allow_pickle=False) as saved:
        adam_steps = {k: float(saved[k]) for k in saved.files if k.endswith("/step")}
        weights = {k: saved[k].copy() for k in saved.files if k.startswith("policy/")}
    assert adam_steps and all(v > 0 for v in adam_steps.values())  # the optimizer had stepped

    resumed = train(TrainJob(task_file=str(TASK), reward_kind="env", reward_file=None, steps=4096, seed=0,
                             outputs=_outputs(tmp_path / "b"),
                             resume_from=ResumeFrom(checkpoint_file=str(tmp_path / "a" / "state.npz"),
                                                    metrics_file=str(TargetFiles(tmp_path / "a").metrics))))
    assert resumed.trained
    assert (resumed.resumed_from_steps, resumed.steps_done, resumed.job_steps) == (2048, 4096, 2048)
    assert resumed.checkpoints[: len(first.checkpoints)] == first.checkpoints  # the earlier rung's history is kept
    assert [c.timesteps for c in resumed.checkpoints] == [2048, 4096]
    with np.load(tmp_path / "b" / "state.npz", allow_pickle=False) as after:
        for key, steps in adam_steps.items():  # Adam counted on from the saved state, not from zero
            assert float(after[key]) == steps * 2
        moved = [k for k in weights if not np.array_equal(after[k], weights[k])]
    assert moved  # and it trained further


def test_a_checkpoint_that_does_not_fit_the_policy_is_refused(tmp_path: Path) -> None:
    from stable_baselines3 import PPO

    from rewardsmith.envs.backends.sb3.checkpoint import load_checkpoint, save_checkpoint

    small = PPO("MlpPolicy", "CartPole-v1", policy_kwargs={"net_arch": [8]}, device="cpu", n_steps=64, batch_size=64)
    save_checkpoint(small, tmp_path / "c.npz")
    other = PPO("MlpPolicy", "CartPole-v1", policy_kwargs={"net_arch": [16]}, device="cpu", n_steps=64, batch_size=64)
    with pytest.raises(ValueError, match="does not fit"):
        load_checkpoint(other, tmp_path / "c.npz")

"""A training job writes TensorBoard event files that TensorBoard's own loader reads back."""

from __future__ import annotations

from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rewardsmith.agent.rundir.store import TargetFiles
from rewardsmith.envs.backends.sb3.train import TrainJob, train
from rewardsmith.envs.tasks import builtin_task_files

CARTPOLE = str(builtin_task_files()["cartpole"])
UPRIGHT = """
import numpy as np
def compute_reward(state, action):
    up = np.exp(-np.square(state.pole_angle / 0.1))
    centre = -0.1 * np.abs(state.cart_position)
    return up + centre, {"up": up, "centre": centre}
"""


def scalars(log_dir: Path) -> EventAccumulator:
    acc = EventAccumulator(str(log_dir))
    acc.Reload()
    return acc


def test_every_component_fitness_episode_length_and_ppos_own_metrics_are_in_tensorboard(tmp_path: Path) -> None:
    files = TargetFiles(tmp_path)
    files.reward.write_text(UPRIGHT)
    result = train(TrainJob(task_file=CARTPOLE, reward_kind="candidate", reward_file=str(files.reward), steps=4096,
                            seed=0, outputs=files.train_outputs()))
    assert result.status == "ok"
    acc = scalars(Path(files.train_outputs().log_dir))
    tags = set(acc.Tags()["scalars"])
    assert {"reward/up", "reward/centre", "task/fitness", "task/episode_length"} <= tags
    assert {"train/policy_gradient_loss", "train/value_loss", "train/entropy_loss"} <= tags, tags
    up = acc.Scalars("reward/up")
    assert [e.step for e in up] == [cp.timesteps for cp in result.checkpoints]
    assert [round(e.value, 5) for e in up] == [round(cp.component_step_means["up"], 5) for cp in result.checkpoints]

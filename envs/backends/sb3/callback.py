"""The SB3 callback of a training job: deferred rewards filled in per rollout, components logged.

Everything the callback and PPO itself record goes to SB3's logger, which also writes TensorBoard
event files into the logger's folder (the job's ``log_dir``): ``tensorboard --logdir RUN_DIR`` shows
every candidate's ``reward/<name>``, ``task/fitness``, ``task/episode_length`` and PPO's ``train/*``.

Imported only inside a training job (it imports stable-baselines3 and torch).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import KVWriter, make_output_format

from rewardsmith.core.atomic import write_json
from rewardsmith.envs.backends.records import Progress
from rewardsmith.envs.backends.sb3.stats import TrainingStats


class DeferredRewardCallback(BaseCallback):
    """SB3 callback that fills in a deferred reward at the end of each rollout and logs its components.

    With a :class:`~envs.backends.sb3.reward_wrapper.BatchReward` over a sandboxed candidate, the reward of a whole
    rollout is computed in one call after the rollout (``env.flush()``): it is added where SB3 stored
    zeros, and the returns and advantages are computed again (SB3's timeout bootstraps are kept).
    Then the rollout's statistics become a checkpoint, each component is logged as ``reward/<name>``
    (its per-step mean; ``reward_return/<name>``: its return per finished episode), the task's
    fitness and episode length as ``task/fitness`` and ``task/episode_length``, and
    ``progress_file`` is updated for the orchestrator's display. With ``tensorboard`` (default),
    SB3's logger also writes TensorBoard event files into its folder.

    Args:
        env: the training vector env (its ``flush()`` returns ``(n_steps, n_envs)`` rewards or None).
        stats: collects per-rollout statistics into the run's checkpoints.
        progress_file: where :class:`Progress` is written (atomically) after each rollout.
        total_steps: the planned number of environment steps, for the progress fraction.
    """

    def __init__(self, env: Any, stats: TrainingStats, progress_file: Path, total_steps: int,
                 tensorboard: bool = True) -> None:
        super().__init__()
        self.batch_env = env
        self.stats = stats
        self.progress_file = progress_file
        self.total_steps = total_steps
        self.tensorboard = tensorboard
        self._tb: KVWriter | None = None

    def _init_callback(self) -> None:
        folder = self.logger.get_dir()
        if self.tensorboard and folder is not None and self._tb is None:
            self._tb = make_output_format("tensorboard", folder)
            self.logger.output_formats.append(self._tb)

    def _on_step(self) -> bool:
        return True

    def _on_training_end(self) -> None:
        self.logger.dump(self.num_timesteps)  # PPO's train/* of the last update, which learn() never dumps
        if self._tb is not None:
            self.logger.output_formats.remove(self._tb)
            self._tb.close()
            self._tb = None

    def _on_rollout_end(self) -> None:
        rewards = self.batch_env.flush()
        if rewards is not None:
            buffer = self.model.rollout_buffer  # type: ignore[attr-defined]  # an on-policy algorithm (PPO)
            buffer.rewards += rewards.astype(np.float32)  # (n_steps, n_envs)
            buffer.compute_returns_and_advantage(last_values=self.locals["values"], dones=self.locals["dones"])
        cp = self.stats.checkpoint(self.num_timesteps)
        for name, value in cp.component_step_means.items():
            self.logger.record(f"reward/{name}", value)
        for name, value in cp.component_returns.items():
            self.logger.record(f"reward_return/{name}", value)
        for key, v in (("task/fitness", cp.fitness), ("task/episode_length", cp.episode_length),
                       ("task/env_return", cp.env_return), ("task/reward_return", cp.reward_return)):
            if v is not None:
                self.logger.record(key, v)
        self.logger.record("task/episodes", cp.episodes)
        write_json(self.progress_file, Progress(self.num_timesteps, self.total_steps))

"""The SB3 callback of a training job: deferred rewards filled in per rollout, components logged.

Imported only inside a training job (it imports stable-baselines3 and torch).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from core.atomic import write_json
from envs.train_stats import Progress, TrainingStats


class DeferredRewardCallback(BaseCallback):
    """SB3 callback that fills in a deferred reward at the end of each rollout and logs its components.

    With a :class:`~envs.reward_wrapper.BatchReward` over a sandboxed candidate, the reward of a whole
    rollout is computed in one call after the rollout (``env.flush()``): it is added where SB3 stored
    zeros, and the returns and advantages are computed again (SB3's timeout bootstraps are kept).
    Then the rollout's statistics become a checkpoint, each component is logged as ``reward/<name>``
    and ``progress_file`` is updated for the orchestrator's display.

    Args:
        env: the training vector env (its ``flush()`` returns ``(n_steps, n_envs)`` rewards or None).
        stats: collects per-rollout statistics into the run's checkpoints.
        progress_file: where :class:`Progress` is written (atomically) after each rollout.
        total_steps: the planned number of environment steps, for the progress fraction.
    """

    def __init__(self, env: Any, stats: TrainingStats, progress_file: Path, total_steps: int) -> None:
        super().__init__()
        self.batch_env = env
        self.stats = stats
        self.progress_file = progress_file
        self.total_steps = total_steps

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        rewards = self.batch_env.flush()
        if rewards is not None:
            buffer = self.model.rollout_buffer  # type: ignore[attr-defined]  # an on-policy algorithm (PPO)
            buffer.rewards += rewards.astype(np.float32)  # (n_steps, n_envs)
            buffer.compute_returns_and_advantage(last_values=self.locals["values"], dones=self.locals["dones"])
        cp = self.stats.checkpoint(self.num_timesteps)
        for name, value in cp.component_step_means.items():
            self.logger.record(f"reward/{name}", value)
        write_json(self.progress_file, Progress(self.num_timesteps, self.total_steps))

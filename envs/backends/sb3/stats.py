"""Statistics the SB3 backend collects while a policy trains: every reward component, episode length and fitness.

One :class:`Checkpoint` is taken at the end of each PPO rollout; the critique later samples about
ten of them (Eureka's reward reflection). Values are per-episode returns of episodes that finished
in the window, plus per-step means that exist even when no episode finished.
"""

from __future__ import annotations

import numpy as np

from rewardsmith.envs.backends.records import Checkpoint


class TrainingStats:
    """Accumulates per-step values into per-episode and per-window statistics."""

    def __init__(self, n_envs: int) -> None:
        self.n_envs = n_envs
        self.components: list[str] = []
        self.checkpoints: list[Checkpoint] = []
        self._len = np.zeros(n_envs)
        self._env_ret = np.zeros(n_envs)
        self._total_ret = np.zeros(n_envs)
        self._comp_ret: dict[str, np.ndarray] = {}
        self._reset_window()

    def _reset_window(self) -> None:
        self._w_steps = 0
        self._w_step_sums: dict[str, float] = {}
        self._w_lengths: list[float] = []
        self._w_fitness: list[float] = []
        self._w_env_ret: list[float] = []
        self._w_total_ret: list[float] = []
        self._w_comp_ret: dict[str, list[float]] = {}

    def record_step(self, total: np.ndarray, components: dict[str, np.ndarray], env_rewards: np.ndarray,
                    dones: np.ndarray, end_fitness: np.ndarray) -> None:
        for name in components:
            if name not in self._comp_ret:
                self.components.append(name)
                self._comp_ret[name] = np.zeros(self.n_envs)
        self._len += 1
        self._env_ret += env_rewards
        self._total_ret += total
        self._w_steps += len(total)
        for name, values in components.items():
            self._comp_ret[name] += values
            self._w_step_sums[name] = self._w_step_sums.get(name, 0.0) + float(np.sum(values))
        for i in np.flatnonzero(dones):
            self._w_lengths.append(float(self._len[i]))
            self._w_env_ret.append(float(self._env_ret[i]))
            self._w_total_ret.append(float(self._total_ret[i]))
            if not np.isnan(end_fitness[i]):
                self._w_fitness.append(float(end_fitness[i]))
            for name, ret in self._comp_ret.items():
                self._w_comp_ret.setdefault(name, []).append(float(ret[i]))
                ret[i] = 0.0
            self._len[i] = self._env_ret[i] = self._total_ret[i] = 0.0

    def checkpoint(self, timesteps: int) -> Checkpoint:
        """Close the current window and return its statistics."""
        cp = Checkpoint(
            timesteps=timesteps,
            episodes=len(self._w_lengths),
            episode_length=_mean(self._w_lengths),
            fitness=_mean(self._w_fitness),
            env_return=_mean(self._w_env_ret),
            reward_return=_mean(self._w_total_ret),
            component_returns={n: float(np.mean(v)) for n, v in self._w_comp_ret.items() if v},
            component_step_means={n: s / self._w_steps for n, s in self._w_step_sums.items()} if self._w_steps else {},
        )
        self.checkpoints.append(cp)
        self._reset_window()
        return cp


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None

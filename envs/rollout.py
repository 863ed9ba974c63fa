"""Short random rollouts: recorded states for probing candidates and for start-up checks of a task."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rewardsmith.envs.fitness import Episode
from rewardsmith.envs.tasks import Task


@dataclass(frozen=True)
class StateSample:
    """Recorded post-step states and the actions that led to them.

    Attributes:
        states: ``(N, D)`` float64 flat state rows (see :class:`core.state.StateSpec`).
        actions: ``(N, A)`` float64 actions; the row of a reset state holds zeros.
        episodes: finished episodes seen during the rollout (for checking the fitness function).
    """

    states: np.ndarray
    actions: np.ndarray
    episodes: tuple[Episode, ...]


def random_rollout(task: Task, n: int = 256, seed: int = 0, max_episodes: int = 2) -> StateSample:
    """Step the task's environment with uniformly random actions and record ``n`` states."""
    env = task.make_env()
    adapter, spec = task.adapter, task.adapter.spec
    env.action_space.seed(seed)
    states: list[np.ndarray] = []
    actions: list[np.ndarray] = []
    episodes: list[Episode] = []
    ep_states: list[np.ndarray] = []
    ep_actions: list[np.ndarray] = []
    ep_rewards: list[float] = []
    obs, _ = env.reset(seed=seed)
    states.append(adapter.read(env, obs))
    actions.append(np.zeros(spec.action.dim))
    try:
        while len(states) < n or (not episodes and len(states) < 50 * n):
            action = env.action_space.sample()
            obs, reward, terminated, truncated, _ = env.step(action)
            row, act = adapter.read(env, obs), adapter.action_row(action)
            if len(states) < n:
                states.append(row)
                actions.append(act)
            ep_states.append(row)
            ep_actions.append(act)
            ep_rewards.append(float(reward))
            if terminated or truncated:
                if len(episodes) < max_episodes:
                    episodes.append(Episode.from_rows(spec, ep_states, ep_actions, ep_rewards, terminated, truncated))
                ep_states, ep_actions, ep_rewards = [], [], []
                obs, _ = env.reset()
                if len(states) < n:
                    states.append(adapter.read(env, obs))
                    actions.append(np.zeros(spec.action.dim))
    finally:
        env.close()
    return StateSample(np.asarray(states), np.asarray(actions), tuple(episodes))

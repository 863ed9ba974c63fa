"""A task's own fitness function over a JAX round's training episodes, on the host.

A built-in fitness metric runs inside the compiled program (:mod:`envs.backends.jax.metrics`); a
task's own fitness is Python (``fitness = "my.py:score"``) and cannot. So the program hands the host
every step of a few envs per arm (:class:`Sampled`, ``sample_envs`` of them: the state row, the action,
the env's reward, how the step ended) and :class:`EpisodeFitness` stitches them into
:class:`~envs.fitness.Episode` records and scores each finished one, as the SB3 backend's reward wrapper
does for its training episodes. Each checkpoint's ``fitness`` is then the mean over the sampled envs'
episodes that ended in its rollout: the training curve of the task's own measure, for the round's
plot, TensorBoard and the critique. A fitness function that fails here is the task's fault
(:class:`~core.errors.FitnessError`, as in every other job).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from rewardsmith.core.state import StateSpec
from rewardsmith.envs.fitness import FITNESS_CALL_TIMEOUT_S, Episode, FitnessFn, compute_fitness

SAMPLE_ENVS = 4
"""Envs per arm whose training episodes are scored by a task's own fitness function (the first ones)."""


class Sampled(NamedTuple):
    """One env step of the sampled envs of every arm: leaves ``(K, m, ...)`` (stacked per rollout step and call)."""

    rows: Any
    """(K, m, D) the state after the step, as a flat row (:meth:`StateSpec.unpack` order)."""
    actions: Any
    """(K, m, A) the action as a reward sees it."""
    env_reward: Any
    """(K, m) the environment's own reward."""
    terminated: Any
    truncated: Any


class EpisodeFitness:
    """Running episodes of the sampled envs, scored by ``fn`` when they end; per rollout, per arm sums and counts."""

    def __init__(self, spec: StateSpec, fn: FitnessFn, name: str) -> None:
        self.spec, self.fn, self.name = spec, fn, name
        self._running: dict[tuple[int, int], tuple[list[np.ndarray], list[np.ndarray], list[float]]] = {}

    def rollouts(self, sampled: Sampled) -> tuple[np.ndarray, np.ndarray]:
        """Feed the steps of one compiled call (leaves ``(R, T, K, m, ...)``); returns the fitness summed over the
        episodes that ended in each rollout, and their count, both ``(R, K)``."""
        rows, actions, rewards = (np.asarray(x) for x in (sampled.rows, sampled.actions, sampled.env_reward))
        terminated, truncated = np.asarray(sampled.terminated), np.asarray(sampled.truncated)
        n_rollouts, steps, k, m = rewards.shape
        sums, counts = np.zeros((n_rollouts, k)), np.zeros((n_rollouts, k), np.int64)
        for r in range(n_rollouts):
            for t in range(steps):
                for i in range(k):
                    for j in range(m):
                        states, acts, rews = self._running.setdefault((i, j), ([], [], []))
                        states.append(rows[r, t, i, j])
                        acts.append(actions[r, t, i, j])
                        rews.append(float(rewards[r, t, i, j]))
                        if terminated[r, t, i, j] or truncated[r, t, i, j]:
                            episode = Episode.from_rows(self.spec, states, acts, rews, bool(terminated[r, t, i, j]),
                                                        bool(truncated[r, t, i, j]) and not terminated[r, t, i, j])
                            sums[r, i] += compute_fitness(self.fn, episode, self.name, FITNESS_CALL_TIMEOUT_S)
                            counts[r, i] += 1
                            del self._running[(i, j)]
        return sums, counts

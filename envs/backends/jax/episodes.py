"""A task's own fitness function over a JAX round's training episodes, on the host.

A built-in fitness metric runs inside the compiled program (:mod:`envs.backends.jax.metrics`); a
task's own fitness is Python (``fitness = "my.py:score"``) and never does. The program hands the host
the steps of some envs (:class:`Sampled`: the state row, the action, the env's reward, how the step
ended); :class:`RunningEpisodes` stitches them into episodes (:class:`EpisodeRows`, an
:class:`~envs.fitness.Episode` once unpacked) and a :data:`Scorer` scores each finished one, as the
SB3 backend's reward wrapper does for its training episodes. In a run the scorer is the task's
function in a bounded child process (:class:`~envs.backends.jax.scoring.FitnessChild`). Two uses:

- **The sparse baseline** (:class:`SparseFitness`): every env of every sparse arm. PPO reads a
  rollout's rewards only after the rollout, so the program sends the rollout's steps of those envs to
  the host in one ordered callback at its end, and each episode that ended in it is paid its fitness
  at the step it ended (0 elsewhere), as on SB3: one callback and one batch for the scorer per rollout.
- **The training curves** (:class:`EpisodeFitness`): the first :data:`SAMPLE_ENVS` envs of every other
  arm, streamed out with each compiled call's results and scored after it: each checkpoint's ``fitness``
  is the mean over the sampled envs' episodes that ended in its rollout, for the round's plot,
  TensorBoard and the critique (a host-paid sparse arm's own come from all its envs).

A fitness function that fails here is the task's fault (:class:`~core.errors.FitnessError`, as in every
other job); one that fails inside the callback is kept and raised after the compiled call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from rewardsmith.core.errors import FitnessError
from rewardsmith.core.state import StateSpec
from rewardsmith.envs.fitness import FITNESS_CALL_TIMEOUT_S, Episode, FitnessFn, compute_fitness

SAMPLE_ENVS = 4
"""Envs per arm whose training episodes are scored by a task's own fitness function (the first ones)."""


class Sampled(NamedTuple):
    """One env step of some envs of some arms: leaves ``(A, m, ...)`` (stacked per rollout step and call)."""

    rows: Any
    """(A, m, D) the state after the step, as a flat row (:meth:`StateSpec.unpack` order)."""
    actions: Any
    """(A, m, act_dim) the action as a reward sees it."""
    env_reward: Any
    """(A, m) the environment's own reward."""
    terminated: Any
    truncated: Any


class EpisodeRows(NamedTuple):
    """One finished episode as the program's rows: :meth:`episode` is what a fitness function gets."""

    rows: np.ndarray
    """(T, D) float64 the post-step states as flat rows (:meth:`StateSpec.unpack` order)."""
    actions: np.ndarray
    """(T, act_dim) float64"""
    env_rewards: np.ndarray
    """(T,) float64"""
    terminated: bool
    truncated: bool

    def episode(self, spec: StateSpec) -> Episode:
        return Episode.from_rows(spec, list(self.rows), list(self.actions), self.env_rewards.tolist(), self.terminated,
                                 self.truncated)


Scorer = Callable[[Sequence[EpisodeRows]], list[float]]
"""The task's fitness of each of a batch of episodes, in order (raises :class:`FitnessError`)."""


def in_process(spec: StateSpec, fn: FitnessFn, name: str) -> Scorer:
    """A scorer that calls ``fn`` here, each call bounded (tests; a run scores in a child process)."""
    return lambda episodes: [compute_fitness(fn, e.episode(spec), name, FITNESS_CALL_TIMEOUT_S) for e in episodes]


class RunningEpisodes:
    """The running episode of each of a grid of envs, fed one step of all of them at a time.

    Steps are kept as the program sent them (one array per step for every env) until no running episode
    needs them, so feeding a step costs one append whatever the grid's size; an env's rows are gathered
    only when its episode ends.
    """

    def __init__(self) -> None:
        self._steps: list[Sampled] = []
        self._first = 0
        """The step number of ``_steps[0]``."""
        self._start: np.ndarray | None = None
        """(A, m) the step number each env's running episode began at."""

    def step(self, step: Sampled) -> list[tuple[int, int, EpisodeRows]]:
        """Feed one step (leaves ``(A, m, ...)``); returns the episodes it ended, as (arm, env, episode)."""
        now = self._first + len(self._steps)
        self._steps.append(step)
        ended = np.logical_or(step.terminated, step.truncated)
        if self._start is None:
            self._start = np.full(ended.shape, now)
        out = []
        for i, j in zip(*np.nonzero(ended), strict=True):
            steps = self._steps[int(self._start[i, j]) - self._first:]
            terminated = bool(step.terminated[i, j])
            out.append((int(i), int(j), EpisodeRows(
                np.array([s.rows[i, j] for s in steps], np.float64), np.array([s.actions[i, j] for s in steps], np.float64),
                np.array([s.env_reward[i, j] for s in steps], np.float64), terminated,
                bool(step.truncated[i, j]) and not terminated)))
            self._start[i, j] = now + 1
        done = int(self._start.min(initial=now + 1)) - self._first  # steps before every running episode's start
        if done > 0:
            del self._steps[:done]
            self._first += done
        return out

    def keep(self, rows: Sequence[int]) -> None:
        """Keep only these rows of the grid (its first axis), in this order: their running episodes go on."""
        if self._start is None:
            return
        take = np.asarray(rows, dtype=int)
        self._steps = [Sampled(*(np.asarray(x)[take] for x in s)) for s in self._steps]
        self._start = self._start[take]

    def steps(self, stacked: Sampled) -> list[tuple[int, int, int, EpisodeRows]]:
        """Feed ``T`` steps (leaves ``(T, A, m, ...)``); returns the episodes they ended, as (step, arm, env, episode)."""
        arrays = Sampled(*(np.asarray(x) for x in stacked))
        return [(t, i, j, e) for t in range(len(arrays.env_reward))
                for i, j, e in self.step(Sampled(*(x[t] for x in arrays)))]


class SparseFitness:
    """The sparse arms' reward from the task's fitness: the program's host callback, once per rollout."""

    def __init__(self, scorer: Scorer) -> None:
        self.episodes, self.scorer = RunningEpisodes(), scorer
        self.error: FitnessError | None = None
        """The scorer's failure: kept for the host to raise after the compiled call (a callback must not raise)."""

    def rollout(self, steps: Sampled) -> np.ndarray:
        """A rollout of every env of the sparse arms (leaves ``(T, S, n, ...)``) → ``(T, S, n)`` float32: each
        episode's fitness at the step it ended, NaN elsewhere (the program pays NaN as 0)."""
        paid = np.full(np.shape(steps.env_reward), np.nan, np.float32)
        if self.error is not None:
            return paid
        ended = self.episodes.steps(steps)
        try:
            values = self.scorer([e for *_, e in ended]) if ended else []
        except FitnessError as exc:
            self.error = exc
            return paid
        for (t, i, j, _), value in zip(ended, values, strict=True):
            paid[t, i, j] = value
        return paid


class EpisodeFitness:
    """Running episodes of the sampled envs, scored when they end; per rollout, per arm sums and counts."""

    def __init__(self, scorer: Scorer) -> None:
        self.episodes, self.scorer = RunningEpisodes(), scorer

    def rollouts(self, sampled: Sampled) -> tuple[np.ndarray, np.ndarray]:
        """Feed the steps of one compiled call (leaves ``(R, T, A, m, ...)``); returns the fitness summed over the
        episodes that ended in each rollout, and their count, both ``(R, A)``. One batch for the scorer."""
        arrays = Sampled(*(np.asarray(x) for x in sampled))
        n_rollouts, _, k = arrays.env_reward.shape[:3]
        ended = [(r, i, e) for r in range(n_rollouts) for _, i, _, e in self.episodes.steps(
            Sampled(*(x[r] for x in arrays)))]
        sums, counts = np.zeros((n_rollouts, k)), np.zeros((n_rollouts, k), np.int64)
        for (r, i, _), value in zip(ended, self.scorer([e for *_, e in ended]) if ended else [], strict=True):
            sums[r, i] += value
            counts[r, i] += 1
        return sums, counts


class HostFitness:
    """The task's own fitness on the host for one round: the sparse arms' callback and the sampled envs' curves."""

    def __init__(self, scorer: Scorer) -> None:
        self.sparse = SparseFitness(scorer)
        self._curves = EpisodeFitness(scorer)

    def after_call(self, sampled: Sampled) -> tuple[np.ndarray, np.ndarray]:
        """After each compiled call: raise the sparse arms' fitness failure, if any; score the sampled episodes.

        Returns the fitness summed over the sampled arms' episodes that ended in each of the call's rollouts, and
        their count, both ``(R, A)`` (the sampled arms in the program's order)."""
        if self.sparse.error is not None:
            raise self.sparse.error
        return self._curves.rollouts(sampled)

    def keep(self, rows: Sequence[int]) -> None:
        """The program shrank to some of its sampled arms (these rows, in order): their running episodes go on."""
        self._curves.episodes.keep(rows)

"""Ground-truth evaluation of a trained policy, in a process that never imports candidate code.

The evaluator builds its own environment from the task file, rebuilds the policy from plain arrays
(``policy.npz``, loaded with ``allow_pickle=False``), runs deterministic episodes on fixed seeds and
computes the task's fitness function. Nothing a reward worker or trainer logged is used as score.
Two seed sets are evaluated: the *selection* seeds (used to pick the best candidate) and the
*held-out* seeds (reported), so the selection-vs-held-out gap is visible.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rewardsmith.core.atomic import write_json
from rewardsmith.envs.adapters import StateAdapter
from rewardsmith.envs.backends import load_policy
from rewardsmith.envs.backends.records import trained_policy
from rewardsmith.envs.fitness import FITNESS_CALL_TIMEOUT_S, Episode, compute_fitness
from rewardsmith.envs.outcomes import EpisodeOutcome, Split, outcome_of, save_rollouts


@dataclass(frozen=True, kw_only=True)
class EvalJob:
    task_file: str
    policy_file: str
    selection_seeds: tuple[int, ...]
    heldout_seeds: tuple[int, ...]
    out_file: str
    rollouts_file: str | None = None
    """Where to keep every evaluation episode's state and action rows (for the pre-training screen)."""
    metrics_file: str | None = None
    """The training's result, whose ``policy`` record says what the policy file is (None: an SB3 policy)."""


@dataclass(frozen=True)
class FitnessStats:
    """Fitness of a policy over a set of evaluation episodes (one per seed)."""

    mean: float
    std: float
    values: tuple[float, ...]
    seeds: tuple[int, ...]

    @classmethod
    def of(cls, values: list[float], seeds: tuple[int, ...]) -> FitnessStats:
        arr = np.asarray(values, dtype=np.float64)
        return cls(float(arr.mean()), float(arr.std()), tuple(float(v) for v in arr), seeds)


@dataclass(frozen=True)
class EvaluationResult:
    selection: FitnessStats
    heldout: FitnessStats
    episode_length: float
    wall_s: float
    episodes: tuple[EpisodeOutcome, ...] = ()
    """How each episode (selection seeds, then held-out seeds) ended and how its state evolved."""


def evaluate(job: EvalJob) -> EvaluationResult:
    """Run the policy on both seed sets and write the result to ``job.out_file``."""
    from rewardsmith.envs.tasks import load_task_file

    started = time.monotonic()
    task = load_task_file(Path(job.task_file))
    env = task.make_env()
    policy = load_policy(Path(job.policy_file), trained_policy(job.metrics_file, task), env.observation_space,
                         env.action_space)
    lengths: list[int] = []
    outcomes: list[EpisodeOutcome] = []
    played: list[tuple[int, float, Episode]] = []

    def run(seeds: tuple[int, ...], split: Split) -> FitnessStats:
        values = []
        for seed in seeds:
            episode = play_episode(env, task.adapter, policy, seed)
            lengths.append(episode.length)
            values.append(compute_fitness(task.fitness, episode, task.fitness_ref, FITNESS_CALL_TIMEOUT_S))
            outcomes.append(outcome_of(episode, task.adapter.spec, seed, split, values[-1]))
            played.append((seed, values[-1], episode))
        return FitnessStats.of(values, seeds)

    try:
        selection, heldout = run(job.selection_seeds, "selection"), run(job.heldout_seeds, "heldout")
        result = EvaluationResult(selection, heldout, float(np.mean(lengths)), time.monotonic() - started,
                                  tuple(outcomes))
    finally:
        env.close()
    if job.rollouts_file is not None:
        save_rollouts(Path(job.rollouts_file), task.adapter.spec, played)
    write_json(Path(job.out_file), result)
    return result


def play_episode(env: Any, adapter: StateAdapter, policy: Any, seed: int, max_steps: int | None = None,
                 after_step: Callable[[], None] | None = None) -> Episode:
    """Run the policy deterministically for one episode from ``reset(seed)`` and record it.

    ``after_step`` is called after the reset and after every step (e.g. to grab a video frame).
    """
    obs, _ = env.reset(seed=seed)
    if after_step is not None:
        after_step()
    rows: list[np.ndarray] = []
    actions: list[np.ndarray] = []
    rewards: list[float] = []
    terminated = truncated = False
    while not (terminated or truncated) and (max_steps is None or len(rows) < max_steps):
        action, _ = policy.predict(obs, deterministic=True)
        obs, reward, terminated, truncated, _ = env.step(action)
        rows.append(adapter.read(env, obs))
        actions.append(adapter.action_row(action))
        rewards.append(float(reward))
        if after_step is not None:
            after_step()
    return Episode.from_rows(adapter.spec, rows, actions, rewards, bool(terminated), bool(truncated))


def seed_sets(run_seed: int, selection: int, heldout: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Disjoint evaluation seeds for a run, shared by all its candidates and baselines."""
    base = 1_000_000 + 100_000 * run_seed
    return tuple(range(base, base + selection)), tuple(range(base + 50_000, base + 50_000 + heldout))

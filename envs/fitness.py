"""Ground-truth fitness: what "the task was done" means, measured on one evaluation episode.

A fitness function is trusted user code: ``fitness(episode: Episode) -> float``, higher is better.
It never sees a candidate's reward. Built-in metrics are referred to by name in task files; a
user's own is ``"path/to/file.py:function"`` (relative to the task file).
"""

from __future__ import annotations

import importlib.util
import inspect
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import FitnessError, TaskError
from core.state import StateBatch, StateSpec


@dataclass(frozen=True)
class Episode:
    """One finished episode, as the fitness function sees it.

    Attributes:
        state: every state field over the episode, shape ``(T, *field_shape)`` (post-step states).
        actions: ``(T, act_dim)`` float actions.
        env_rewards: ``(T,)`` the environment's own reward per step.
        terminated: the environment ended the episode (success or failure, task-specific).
        truncated: the episode hit its time limit.
    """

    state: StateBatch
    actions: np.ndarray
    env_rewards: np.ndarray
    terminated: bool
    truncated: bool

    @property
    def length(self) -> int:
        return len(self.env_rewards)

    @classmethod
    def from_rows(
        cls, spec: StateSpec, states: Sequence[np.ndarray], actions: Sequence[np.ndarray],
        env_rewards: Sequence[float], terminated: bool, truncated: bool,
    ) -> Episode:
        flat = np.asarray(states, dtype=np.float64).reshape(len(states), spec.size)
        flat.flags.writeable = False
        return cls(
            state=spec.unpack(flat),
            actions=np.asarray(actions, dtype=np.float64).reshape(len(actions), spec.action.dim),
            env_rewards=np.asarray(env_rewards, dtype=np.float64),
            terminated=terminated,
            truncated=truncated,
        )


FitnessFn = Callable[[Episode], float]


def balance_steps(episode: Episode) -> float:
    """Number of steps the episode lasted (CartPole: steps the pole stayed up, at most 500)."""
    return float(episode.length)


def upright_fraction(episode: Episode) -> float:
    """Fraction of steps with the pendulum within 0.45 rad (cos > 0.9) of upright."""
    return float(np.mean(np.cos(episode.state.angle) > 0.9))


def flag_progress(episode: Episode) -> float:
    """Highest position reached, scaled so the valley floor (-0.5) is 0 and the flag (0.45) is 1; capped at 1."""
    best = float(np.max(episode.state.position))
    return float(np.clip((best + 0.5) / 0.95, 0.0, 1.0))


def env_return(episode: Episode) -> float:
    """Sum of the environment's own reward over the episode."""
    return float(np.sum(episode.env_rewards))


def forward_distance(episode: Episode) -> float:
    """Metres the body moved forward (+x) from its first to its last recorded state; a fall ends the episode."""
    x = episode.state.x_position
    return float(x[-1] - x[0])


def neg_target_distance(episode: Episode) -> float:
    """Minus the mean fingertip–target distance over the episode, in metres (0 = on the target throughout)."""
    return -float(np.mean(episode.state.distance_to_target))


def neg_object_goal_distance(episode: Episode) -> float:
    """Minus the cylinder–goal distance at the end of the episode, in metres (0 = pushed exactly onto the goal)."""
    return -float(episode.state.object_to_goal[-1])


BUILTIN_METRICS: dict[str, FitnessFn] = {
    "balance_steps": balance_steps,
    "upright_fraction": upright_fraction,
    "flag_progress": flag_progress,
    "env_return": env_return,
    "forward_distance": forward_distance,
    "neg_target_distance": neg_target_distance,
    "neg_object_goal_distance": neg_object_goal_distance,
}


def load_fitness(ref: str, base_dir: Path) -> FitnessFn:
    """Resolve a built-in metric name or ``"file.py:function"`` (relative to ``base_dir``)."""
    if ":" not in ref:
        if ref in BUILTIN_METRICS:
            return BUILTIN_METRICS[ref]
        raise TaskError(
            f"unknown fitness metric {ref!r}; built-in metrics: {', '.join(sorted(BUILTIN_METRICS))} "
            "(or give 'path/to/file.py:function')"
        )
    file_part, func_name = ref.rsplit(":", 1)
    path = (base_dir / file_part).resolve()
    if not path.is_file():
        raise TaskError(f"fitness file {path} does not exist (from fitness = {ref!r})")
    module_name = f"rewardsmith_user_fitness_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise TaskError(f"cannot import fitness file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise FitnessError(f"importing fitness file {path} raised {type(exc).__name__}: {exc}") from exc
    fn = getattr(module, func_name, None)
    if not callable(fn):
        raise TaskError(f"fitness file {path} has no function {func_name!r}")
    if len(inspect.signature(fn).parameters) != 1:
        raise TaskError(f"fitness function {ref!r} must take exactly one argument (the episode)")
    return fn


def compute_fitness(fn: FitnessFn, episode: Episode, name: str = "fitness") -> float:
    """Call a fitness function and insist on a finite float; anything else is a :class:`FitnessError`."""
    try:
        value = fn(episode)
    except Exception as exc:
        raise FitnessError(f"fitness function {name!r} raised {type(exc).__name__}: {exc}") from exc
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise FitnessError(f"fitness function {name!r} returned {type(value).__name__}, expected a float") from None
    if not math.isfinite(value):
        raise FitnessError(f"fitness function {name!r} returned {value}, expected a finite float")
    return value

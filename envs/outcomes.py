"""How evaluation episodes went, as typed summaries: per field, per action, per episode; and the stored rollouts.

The trajectory analyzer (``agent.analyze.critique``) reads these to say why a policy fails, in the task's own
field names and units: how episodes ended, the state at the end compared with the state before, how
the body moved. :func:`outcome_of` summarises one :class:`~envs.fitness.Episode` from the task's
:class:`~core.state.StateSpec` alone, so nothing here is task-specific.

The full state and action rows of evaluation episodes are also kept (:func:`save_rollouts`, plain
float32 arrays in an ``.npz``, no pickle): the pre-training screen re-scores them with later
candidates' rewards (CARD's trajectory preference evaluation).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from rewardsmith.core.atomic import write_bytes
from rewardsmith.core.state import StateField, StateSpec
from rewardsmith.envs.fitness import Episode

Split = Literal["selection", "heldout"]
TAIL = 0.1
"""The last 10% of an episode's steps (at least one) are "the end"; the steps before are its usual states."""
HALF_QUANTILES = 11
"""How many quantiles (0 %, 10 %, …, 100 %) of a scalar field's second half an episode keeps."""


@dataclass(frozen=True, kw_only=True)
class FieldTrace:
    """One state field over one episode. A vector field is summarised by its Euclidean norm (``norm``).

    Attributes:
        first, last, min, max, mean: the field's value (in its unit) at the first and last recorded
            step, its extremes and its mean over the episode.
        mean_abs: mean of ``|value|``.
        usual_abs: median ``|value|`` over the steps before the end (the last ``TAIL`` of the episode).
        path: sum of ``|value[t+1] - value[t]|``: how far the value travelled.
        reversals: how often the value's direction of change flipped.
        gap: median ``|value - target|`` over the episode's second half, for a field with a target.
        gap_to: the target ``gap`` was measured to (the body's reference value; None in records made before it).
        half: the second half's values at :data:`HALF_QUANTILES` evenly spaced quantiles (scalar fields), so
            that the gap to a target a task states itself (not the body's) can be measured afterwards.
    """

    norm: bool
    first: float
    last: float
    min: float
    max: float
    mean: float
    mean_abs: float
    usual_abs: float
    path: float
    reversals: int
    gap: float | None = None
    gap_to: float | None = None
    half: tuple[float, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ActionTrace:
    """The actions of one episode, relative to the action bound (``max(|low|, |high|)``, 1 if unknown).

    Attributes:
        mean_abs: mean ``|action| / bound`` over steps and dimensions.
        saturated: fraction of action entries at 95% of the bound or beyond.
        switch_rate: fraction of steps where an action dimension changed sign (bang-bang switching),
            averaged over dimensions.
    """

    mean_abs: float
    saturated: float
    switch_rate: float


@dataclass(frozen=True, kw_only=True)
class EpisodeOutcome:
    """One evaluation episode: its seed, fitness, how it ended and how its state evolved."""

    seed: int
    split: Split
    fitness: float
    length: int
    terminated: bool
    """The environment ended the episode (success or failure, task-specific)."""
    truncated: bool
    """The episode hit its time limit."""
    fields: dict[str, FieldTrace]
    action: ActionTrace


def outcome_of(episode: Episode, spec: StateSpec, seed: int, split: Split, fitness: float) -> EpisodeOutcome:
    """Summarise one evaluation episode (``episode.state.<field>`` is ``(T, *shape)``)."""
    fields = {f.name: _trace(f, np.asarray(getattr(episode.state, f.name), dtype=np.float64)) for f in spec.fields}
    return EpisodeOutcome(seed=seed, split=split, fitness=float(fitness), length=episode.length,
                          terminated=episode.terminated, truncated=episode.truncated, fields=fields,
                          action=_action_trace(np.asarray(episode.actions, dtype=np.float64), spec))


def _trace(spec_field: StateField, values: np.ndarray) -> FieldTrace:
    norm = values.ndim > 1
    v = np.linalg.norm(values.reshape(len(values), -1), axis=1) if norm else values.reshape(-1)
    if len(v) == 0:
        return FieldTrace(norm=norm, first=0.0, last=0.0, min=0.0, max=0.0, mean=0.0, mean_abs=0.0, usual_abs=0.0,
                          path=0.0, reversals=0)
    head = v[: max(1, len(v) - max(1, round(TAIL * len(v))))]
    steps = np.diff(v)
    signs = np.sign(steps[steps != 0])
    gap = None
    half = v[len(v) // 2:]
    if spec_field.target is not None and not norm:
        gap = float(np.median(np.abs(half - spec_field.target)))
    # 6 significant digits: enough to measure a gap against a 15 %-of-range threshold, and fitness.json stays small
    quantiles = () if norm else tuple(float(f"{q:.6g}") for q in np.quantile(half, np.linspace(0.0, 1.0, HALF_QUANTILES)))
    return FieldTrace(norm=norm, first=float(v[0]), last=float(v[-1]), min=float(v.min()), max=float(v.max()),
                      mean=float(v.mean()), mean_abs=float(np.abs(v).mean()), usual_abs=float(np.median(np.abs(head))),
                      path=float(np.abs(steps).sum()), reversals=int(np.count_nonzero(np.diff(signs))), gap=gap,
                      gap_to=spec_field.target if gap is not None else None, half=quantiles)


def _action_trace(actions: np.ndarray, spec: StateSpec) -> ActionTrace:
    if actions.size == 0:
        return ActionTrace(mean_abs=0.0, saturated=0.0, switch_rate=0.0)
    low, high = spec.action.low, spec.action.high
    bound = max(abs(low), abs(high)) if low is not None and high is not None else 1.0
    rel = np.abs(actions) / (bound or 1.0)
    flips = np.diff(np.sign(actions), axis=0) != 0 if len(actions) > 1 else np.zeros((0, actions.shape[1]), bool)
    return ActionTrace(mean_abs=float(rel.mean()), saturated=float(np.mean(rel >= 0.95)),
                       switch_rate=float(flips.mean()) if flips.size else 0.0)


# -- stored rollouts ------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Rollout:
    """The recorded rows of one evaluation episode and its ground-truth fitness.

    Attributes:
        states: ``(T, D)`` float32 flat state rows (see :class:`core.state.StateSpec`).
        actions: ``(T, A)`` float32 actions.
    """

    seed: int
    fitness: float
    states: np.ndarray
    actions: np.ndarray


def save_rollouts(path: Path, spec: StateSpec, episodes: list[tuple[int, float, Episode]]) -> None:
    """Write ``(seed, fitness, episode)`` triples to ``path`` (an ``.npz``, atomically)."""
    arrays: dict[str, np.ndarray] = {"seeds": np.array([s for s, _, _ in episodes], dtype=np.int64),
                                     "fitness": np.array([f for _, f, _ in episodes], dtype=np.float64)}
    for i, (_, _, e) in enumerate(episodes):
        arrays[f"states_{i}"] = spec.pack(e.state.as_dict()).astype(np.float32)
        arrays[f"actions_{i}"] = np.asarray(e.actions, dtype=np.float32)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
    write_bytes(path, buf.getvalue())


def load_rollouts(path: Path) -> tuple[Rollout, ...]:
    """The rollouts :func:`save_rollouts` wrote (``allow_pickle=False``)."""
    with np.load(path, allow_pickle=False) as data:
        seeds, fitness = data["seeds"], data["fitness"]
        return tuple(Rollout(seed=int(seeds[i]), fitness=float(fitness[i]), states=data[f"states_{i}"],
                             actions=data[f"actions_{i}"]) for i in range(len(seeds)))

"""Per-component diagnosis over training, and the reward-hacking detectors that read training statistics.

Input: the :class:`~envs.backends.records.Checkpoint` list of one training run (one per PPO rollout:
each component's mean per-episode return, the mean fitness of the episodes that finished, the mean
episode length). Output: one :class:`~agent.records.results.ComponentDiagnosis` per component (its rank
correlation with the fitness, its trend, its gain, whether it saturated) and named
:class:`~agent.records.results.Finding` records whose ``evidence`` quotes the numbers.

The detectors and their thresholds are measured on a labelled set of gamed and honest runs
(``bench/analyzer_labels.py``; precision and recall in ``docs/analyzer.md``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.stats import spearmanr

from rewardsmith.agent.records.results import ComponentDiagnosis, Finding
from rewardsmith.envs.backends.records import Checkpoint

MIN_POINTS = 5
"""Fewer checkpoints with a value than this and no correlation is computed."""
STRONG = 0.6
"""|Spearman| at or above this is a clear monotone relation."""
AGAINST = -0.5
"""A component whose return correlates with the fitness at or below this works against the task."""
FLAT_FITNESS = 0.05
"""Fitness gain (last half minus first half of training) within this fraction of its scale counts as flat."""
SATURATION_CV = 0.01
"""A component whose last-quarter per-step values vary by less than this (relative) has stopped moving."""
ALIVE_CV = 0.05
"""A component paying the same amount per step (return / length varies by less than this) is alive-style."""
LENGTH_GROWTH = 0.2
MIN_SHARE = 0.05
"""A component below this share of the reward is too small for its correlation with the fitness to matter."""


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman rank correlation, or None with too few points or a constant series."""
    if len(x) < MIN_POINTS or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    rho = float(spearmanr(x, y).statistic)
    return rho if math.isfinite(rho) else None


def _halves(values: Sequence[float]) -> tuple[float, float]:
    half = len(values) // 2
    return float(np.mean(values[:half])), float(np.mean(values[half:]))


def _scale(values: Sequence[float]) -> float:
    return max(float(np.max(np.abs(values))), 1e-9)


def _paired(checkpoints: Sequence[Checkpoint], name: str) -> tuple[list[float], list[float], list[float]]:
    """(timesteps, component return, fitness) at the checkpoints where the component and the fitness both exist."""
    rows = [(float(cp.timesteps), cp.component_returns[name], cp.fitness) for cp in checkpoints
            if name in cp.component_returns and cp.fitness is not None]
    return [r[0] for r in rows], [r[1] for r in rows], [float(r[2] or 0.0) for r in rows]


def diagnose(checkpoints: Sequence[Checkpoint], names: Sequence[str]) -> tuple[ComponentDiagnosis, ...]:
    """One diagnosis per component (fitness may be missing: then ``fitness_corr`` is None)."""
    out = []
    for name in names:
        points = [cp for cp in checkpoints if name in cp.component_returns]
        returns = [cp.component_returns[name] for cp in points]
        times = [float(cp.timesteps) for cp in points]
        _, paired_ret, paired_fit = _paired(checkpoints, name)
        early, late = _halves(returns) if len(returns) >= 2 else (0.0, 0.0)
        out.append(ComponentDiagnosis(name=name, fitness_corr=spearman(paired_ret, paired_fit),
                                      trend=spearman(times, returns), gain=late - early,
                                      saturated=_saturated(checkpoints, name)))
    return tuple(out)


def _saturated(checkpoints: Sequence[Checkpoint], name: str) -> bool:
    steps = [cp.component_step_means[name] for cp in checkpoints if name in cp.component_step_means]
    if len(steps) < 8:
        return False
    tail = steps[-max(2, len(steps) // 4):]
    scale = max(abs(float(np.mean(tail))), 1e-9)
    moved_before = np.ptp(steps) > 10 * SATURATION_CV * max(scale, float(np.max(np.abs(steps))))
    return bool(np.ptp(tail) <= SATURATION_CV * scale and moved_before and abs(float(np.mean(tail))) > 1e-9)


def fitness_trend(checkpoints: Sequence[Checkpoint]) -> tuple[float, float] | None:
    """(gain of the fitness from the first to the second half of training, its scale), or None without fitness."""
    fit = [float(cp.fitness) for cp in checkpoints if cp.fitness is not None]
    if len(fit) < 4:
        return None
    early, late = _halves(fit)
    return late - early, _scale(fit)


def findings(checkpoints: Sequence[Checkpoint], diagnosis: Sequence[ComponentDiagnosis],
             shares: dict[str, float]) -> list[Finding]:
    """Per-component findings and the training-based hacking detectors."""
    out: list[Finding] = []
    trend = fitness_trend(checkpoints)
    flat = trend is not None and trend[0] <= FLAT_FITNESS * trend[1]
    falling = trend is not None and trend[0] < -FLAT_FITNESS * trend[1]
    for d in diagnosis:
        if d.saturated:
            out.append(Finding("saturated", d.name, f"`{d.name}` stopped changing over the last quarter of training "
                                                    "after rising before: it is at its bound and no longer steers the policy."))
        if d.fitness_corr is not None and d.fitness_corr <= AGAINST and shares.get(d.name, 0.0) >= MIN_SHARE:
            out.append(Finding("against_fitness", d.name, f"`{d.name}`'s return and the task fitness moved in opposite "
                                                          f"directions over training (Spearman {d.fitness_corr:+.2f}).",
                               d.fitness_corr))
        grew = d.trend is not None and d.trend >= STRONG and d.gain > 0
        if grew and falling and trend is not None:
            out.append(Finding("component_up_fitness_down", d.name,
                               f"`{d.name}`'s return rose by {d.gain:.3g} per episode (trend {d.trend:+.2f}) while the "
                               f"fitness fell by {-trend[0]:.3g}.", d.gain))
        elif grew and flat and shares.get(d.name, 0.0) >= 0.2 and trend is not None:
            out.append(Finding("improved_not_fitness", d.name,
                               f"the policy raised `{d.name}`'s return by {d.gain:.3g} per episode while the fitness "
                               f"changed by {trend[0]:+.3g}.", d.gain))
    farmed = _length_farming(checkpoints, shares, flat)
    if farmed is not None:
        out.append(farmed)
    return out


def alive_term(checkpoints: Sequence[Checkpoint], shares: dict[str, float]) -> tuple[str, float] | None:
    """The largest-share component (at least 30%) that pays the same positive amount every step, with that amount."""
    for name, share in sorted(shares.items(), key=lambda kv: -kv[1]):
        per_step = [cp.component_returns[name] / cp.episode_length for cp in checkpoints
                    if name in cp.component_returns and cp.episode_length]
        if share < 0.3 or len(per_step) < 4 or float(np.mean(per_step)) <= 0:
            continue
        if float(np.std(per_step)) <= ALIVE_CV * float(np.mean(per_step)):
            return name, float(np.mean(per_step))
    return None


def _length_farming(checkpoints: Sequence[Checkpoint], shares: dict[str, float], flat: bool) -> Finding | None:
    """Episodes got longer while a term that pays per step alive (and is a large share) grew and the fitness did not."""
    lengths = [cp.episode_length for cp in checkpoints if cp.episode_length is not None]
    if len(lengths) < 4 or not flat:
        return None
    early, late = _halves(lengths)
    alive = alive_term(checkpoints, shares)
    if late < (1 + LENGTH_GROWTH) * early or alive is None:
        return None
    name, per_step = alive
    return Finding("length_farming", name,
                   f"episodes grew from {early:.0f} to {late:.0f} steps while `{name}` paid a steady {per_step:.3g} "
                   f"per step ({shares[name]:.0%} of the reward) and the fitness stayed flat.", late / max(early, 1e-9))

"""How a round's training budget is spread over its candidates: successive halving, or a bandit.

One implementation behind every place that stops candidates early (issue 22): the jax round's program
decides between its compiled calls (:func:`envs.backends.jax.driver.train_round`), the SB3 backend at
the end of each rung (a job that continues from the last one's checkpoint, :mod:`agent.train.allocation`),
and ``tune`` ranks its trials with :meth:`HalvingSchedule.continuing`.

What a policy sees of an arm is its **learning curve**: the task's fitness of the episodes its policy
finished while training, one :class:`Point` per PPO rollout (what ``metrics.json``'s checkpoints hold).
It never sees one noisy point alone: an :class:`Estimate` is read off the recent part of the curve.

- **halving** (:class:`HalvingSchedule`): at the end of each rung all arms still in have trained equally
  long; the top ``1/eta`` by their recent fitness (the episode-weighted mean over the last
  :attr:`Allocation.window` of the curve) continue, the others stop.
- **bandit**, in the spirit of ORSO (Zhang et al., ICLR 2025, arXiv 2410.13837; ``Improbable-AI/orso``
  ``src/train_orso_budget.py``): arms are checked at every decision point, not only at rungs. ORSO's
  D3RB doubles an arm's regret coefficient when its optimistic estimate falls below the best arm's
  pessimistic one (its "misspecification test"); here the same test, on a line fitted to the recent
  curve (optimistic = its level + ``confidence`` standard errors + the trend carried to the next rung;
  pessimistic = level − ``confidence`` standard errors), counts a strike, and :attr:`Allocation.checks`
  strikes in a row stop the arm — it re-checks before stopping, so one bad rollout never does.
  ORSO trains one arm at a time; here every arm still in trains in the same program, so the bandit
  eliminates instead of choosing. Its budget is the halving schedule's: at each rung it keeps as many
  arms as the budget still left can carry down the rest of the ladder (more than halving keeps once
  the test has stopped some early), ranked by their level with the trend carried as far ahead as the
  curve it was read from reaches.

Both spend at most the halving schedule's planned env-steps (:meth:`HalvingSchedule.spend`), so a
round's cost is known before it starts. Baselines are never allocated: they train the full budget.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

PolicyName = Literal["halving", "bandit"]
POLICIES: tuple[PolicyName, ...] = ("halving", "bandit")


@dataclass(frozen=True, kw_only=True)
class HalvingSchedule:
    """Successive halving across a round's candidates (``--halving ETA --first-rung FRACTION``)."""

    eta: int
    """Reduction factor: after each rung the top ``1/eta`` of the candidates (at least one) continue."""
    first_rung: float
    """The first rung's budget as a fraction of the full training budget, e.g. 1/8 = 0.125."""

    def __post_init__(self) -> None:
        if self.eta < 2:
            raise ValueError(f"--halving needs a reduction factor of at least 2, not {self.eta}")
        if not 0.0 < self.first_rung < 1.0:
            raise ValueError(f"--first-rung must be a fraction of the budget between 0 and 1, not {self.first_rung}")

    def budgets(self, steps: int, rollout: int) -> tuple[int, ...]:
        """Cumulative env-steps at the end of each rung; the last is the full budget ``steps``.

        Every rung ends on a whole PPO rollout (``rollout`` = n_steps × n_envs), since training only stops
        between rollouts, and the first after two at least: the first rollout is gathered by the initial policy,
        before any update, so it says nothing about the reward (on a round's common seed it is the same for every
        arm). Rungs that would round to the same budget are merged.
        """
        out: list[int] = []
        fraction = self.first_rung
        while fraction < 1.0:
            budget = max(2 * rollout, round(steps * fraction / rollout) * rollout)
            if budget >= steps:
                break
            if not out or budget > out[-1]:
                out.append(budget)
            fraction *= self.eta
        return (*out, steps)

    def survivors(self, entered: int) -> int:
        """How many of ``entered`` candidates continue past a rung."""
        return max(1, entered // self.eta)

    def continuing(self, fitness: Mapping[str, float | None]) -> tuple[str, ...]:
        """Who continues past a rung that ``fitness`` entered: the top :meth:`survivors` by fitness (ties broken by
        key, no fitness never continues), best first. The one halving rule: a round ranks its candidates at a
        rung; a tuning study ranks a trial among every trial that reached the rung so far."""
        ranked = sorted((k for k, f in fitness.items() if f is not None), key=lambda k: (-(fitness[k] or 0.0), k))
        return tuple(ranked[: self.survivors(len(fitness))])

    def spend(self, entered: int, steps: int, rollout: int) -> int:
        """Env-steps the schedule plans for ``entered`` candidates: every rung's arms times its length."""
        return _ladder_cost(self, self.budgets(steps, rollout), 0, entered, 0)


def _ladder_cost(schedule: HalvingSchedule, budgets: Sequence[int], rung: int, arms: int, at: int) -> int:
    """Env-steps to take ``arms`` arms from ``at`` to the end of rung ``rung``, then down the rest of the ladder."""
    cost, prev = 0, at
    for budget in budgets[rung:]:
        cost += arms * (budget - prev)
        prev, arms = budget, schedule.survivors(arms)
    return cost


@dataclass(frozen=True, kw_only=True)
class Allocation:
    """How a round's budget is spread over its candidates (``--allocation``; :attr:`schedule` from ``--halving``)."""

    policy: PolicyName
    schedule: HalvingSchedule
    """The rungs: where halving cuts, and the bandit's budget (it spends no more than halving plans)."""
    confidence: float = 1.5
    """The bandit's bounds: this many standard errors of an arm's level either side."""
    window: float = 0.5
    """The recent part of a curve an estimate is read from, as a fraction of the steps trained so far."""
    checks: int = 2
    """Failed checks in a row that stop an arm (the bandit's re-check)."""

    @property
    def label(self) -> str:
        """How the round's header and records name it, e.g. ``bandit (η=4, first rung 1/8)``."""
        fraction = self.schedule.first_rung
        nice = f"1/{round(1 / fraction)}" if abs(1 / fraction - round(1 / fraction)) < 1e-6 else f"{fraction:.3g}"
        name = "successive halving" if self.policy == "halving" else "bandit"
        return f"{name} (η={self.schedule.eta}, first rung {nice} of the budget)"


@dataclass(frozen=True)
class Point:
    """One rollout of an arm's training: the fitness of the episodes that ended in it."""

    steps: int
    """Env-steps the arm had trained at the end of the rollout."""
    fitness: float
    """Mean task fitness of those episodes."""
    episodes: int
    """How many ended (a point without any is left out of a curve)."""


@dataclass(frozen=True, kw_only=True)
class Estimate:
    """What a policy reads off the recent part of an arm's curve (:func:`estimate`)."""

    mean: float | None
    """The recent episodes' mean fitness (episode-weighted); None: no episode ended yet."""
    level: float | None
    """A line fitted to the recent points, at the steps trained (the mean when too few points for a line)."""
    slope: float = 0.0
    """Fitness per env-step of that line (0 with fewer than 3 points)."""
    stderr: float = math.inf
    """Standard error of ``level`` (infinite with fewer than 3 points: the bandit never stops on it)."""
    points: int = 0

    def outlook(self, ahead: int) -> float | None:
        """The level with the trend carried ``ahead`` env-steps (a falling trend is not carried: optimism)."""
        return None if self.level is None else self.level + max(0.0, self.slope) * ahead

    def upper(self, z: float, ahead: int) -> float:
        level = self.outlook(ahead)
        return math.inf if level is None else level + z * self.stderr

    def lower(self, z: float) -> float:
        return -math.inf if self.level is None else self.level - z * self.stderr


def estimate(curve: Sequence[Point], steps: int, window: float) -> Estimate:
    """The recent part of a curve (its points after ``(1 - window) · steps``, or the last one), summed up; the line
    is fitted to at least the last 3 points."""
    points = [p for p in curve if p.episodes > 0 and p.steps <= steps]
    if not points:
        return Estimate(mean=None, level=None)
    start = steps * (1.0 - window)
    recent = [p for p in points if p.steps > start] or points[-1:]
    weights = np.array([p.episodes for p in recent], float)
    mean = float(np.sum(weights * np.array([p.fitness for p in recent])) / np.sum(weights))
    if len(recent) < 3:
        recent = points[-3:]
    y = np.array([p.fitness for p in recent], float)
    if len(recent) < 3:
        return Estimate(mean=mean, level=mean, points=len(recent))
    # A least-squares line over the recent points (each point one rollout's mean: equally weighted, the
    # rollout-to-rollout spread is the noise), read at the steps trained.
    x = np.array([p.steps for p in recent], float) - steps
    xm, ym = float(x.mean()), float(y.mean())
    sxx = float(np.sum((x - xm) ** 2))
    slope = float(np.sum((x - xm) * (y - ym)) / sxx) if sxx > 0 else 0.0
    level = ym - slope * xm
    resid = y - (level + slope * x)
    sigma = math.sqrt(float(np.sum(resid**2)) / (len(recent) - 2)) if len(recent) > 2 else math.inf
    stderr = sigma * math.sqrt(1.0 / len(recent) + (xm**2) / sxx) if sxx > 0 else math.inf
    return Estimate(mean=mean, level=float(level), slope=slope, stderr=stderr, points=len(recent))


@dataclass(frozen=True, kw_only=True)
class Decision:
    """One decision point of a round: who was in, what each was judged by, who continued and who stopped."""

    steps: int
    """Env-steps every arm still in had trained."""
    rung: int
    """The rung it closes (halving) or falls in (a bandit check between rungs), 0-based."""
    entered: tuple[str, ...]
    fitness: dict[str, float | None]
    """What each arm was ranked by: its recent training episodes' fitness (None: none ended, or it failed)."""
    continued: tuple[str, ...]
    stopped: tuple[str, ...]
    reasons: dict[str, str] = field(default_factory=dict)
    """Why each stopped arm stopped, in words (for its record and critique)."""
    failed: tuple[str, ...] = ()
    """Arms that had stopped training by themselves (NaN, a crash) and left without being judged."""


@dataclass(frozen=True, kw_only=True)
class AllocationState:
    """An allocator's state between decisions: enough to go on after a resume exactly as it would have."""

    alive: tuple[str, ...]
    at: int = 0
    """Env-steps per arm at the last decision (or the start)."""
    spent: int = 0
    """Env-steps the candidates trained so far, all together."""
    strikes: dict[str, int] = field(default_factory=dict)
    decisions: tuple[Decision, ...] = ()


@dataclass(frozen=True, kw_only=True)
class AllocationRecord:
    """A round's allocation, its rungs and every decision taken, in order (``round_NN/allocation.json``; a jax
    round's job writes its own, which the orchestrator copies there)."""

    allocation: Allocation
    budgets: tuple[int, ...]
    """Env-steps per arm at the end of each rung (the last: the full budget)."""
    planned_steps: int
    """The most env-steps the candidates may train together (the halving schedule's plan)."""
    decisions: tuple[Decision, ...] = ()


class Allocator:
    """One round's allocation: fed the candidates' curves at each decision point, it says who continues.

    Args:
        allocation: the policy and its schedule.
        arms: the candidates (baselines are never allocated).
        steps: the full training budget per arm.
        rollout: env-steps of one PPO rollout (rungs end on whole rollouts).
        state: where an earlier process left off (a resumed round).
    """

    def __init__(self, allocation: Allocation, arms: Sequence[str], steps: int, rollout: int,
                 state: AllocationState | None = None) -> None:
        self.allocation, self.steps, self.rollout = allocation, steps, rollout
        self.schedule = allocation.schedule
        self.budgets = self.schedule.budgets(steps, rollout)
        self.total = self.schedule.spend(len(arms), steps, rollout)
        """The most env-steps the candidates may train, together."""
        self.state = state if state is not None else AllocationState(alive=tuple(arms))

    @property
    def alive(self) -> tuple[str, ...]:
        return self.state.alive

    @property
    def record(self) -> AllocationRecord:
        """Everything decided so far."""
        return AllocationRecord(allocation=self.allocation, budgets=self.budgets, planned_steps=self.total,
                                decisions=self.state.decisions)

    def rung_of(self, steps: int) -> int:
        """The rung that ``steps`` falls in (a rung's end belongs to it)."""
        return next(i for i, b in enumerate(self.budgets) if steps <= b)

    def is_rung_end(self, steps: int) -> bool:
        return steps in self.budgets[:-1]

    def due(self, steps: int) -> bool:
        """Whether a decision is taken after ``steps`` env-steps (halving: at rung ends; the bandit: at every
        point before the full budget). A round's driver calls :meth:`decide` only then."""
        if steps >= self.steps or (len(self.alive) <= 1 and self.allocation.policy == "halving"):
            return False
        return self.is_rung_end(steps) or self.allocation.policy == "bandit"

    def decide(self, steps: int, curves: Mapping[str, Sequence[Point]], failed: Sequence[str] = ()) -> Decision:
        """Who of the arms still in continues after ``steps`` env-steps each.

        ``curves``: each arm's points so far (an arm missing has none); ``failed``: arms that stopped training by
        themselves (NaN, a crash): they leave without being counted as stopped here.
        """
        s = self.state
        spent = s.spent + len(s.alive) * (steps - s.at)
        entered = tuple(a for a in s.alive if a not in failed)
        a = self.allocation
        # The first rollout is the initial policy's, the same whatever the reward: no evidence (see budgets()).
        informative = {k: tuple(p for p in curves.get(k, ()) if p.steps > self.rollout) for k in entered}
        estimates = {k: estimate(informative[k], steps, a.window) for k in entered}
        rung = self.rung_of(steps)
        if a.policy == "halving":
            fitness = {k: e.mean for k, e in estimates.items()}
            # An arm none of whose episodes ended yet is ranked last, but it is not failed: it may fill a place.
            ranked = {k: _LOWEST if f is None else f for k, f in fitness.items()}
            continued = self.schedule.continuing(ranked) if self.is_rung_end(steps) else entered
            reasons = {k: self._ranked_out(fitness, continued) for k in entered if k not in continued}
            strikes = s.strikes
        else:
            fitness = {k: e.level for k, e in estimates.items()}
            continued, reasons, strikes = self._bandit(steps, spent, entered, estimates)
        stopped = tuple(k for k in entered if k not in continued)
        decision = Decision(steps=steps, rung=rung, entered=entered, fitness=fitness,
                            continued=tuple(k for k in entered if k in continued), stopped=stopped, reasons=reasons,
                            failed=tuple(k for k in s.alive if k in failed))
        self.state = replace(s, alive=decision.continued, at=steps, spent=spent, strikes=strikes,
                             decisions=(*s.decisions, decision))
        return decision

    def _ranked_out(self, fitness: Mapping[str, float | None], continued: Sequence[str]) -> str:
        mine = [f for k, f in fitness.items() if k in continued and f is not None]
        cut = f" (those that went on had {min(mine):.4g} or more)" if mine else ""
        return f"ranked below the top {len(continued)} of {len(fitness)} by recent training fitness{cut}"

    def _ahead(self, steps: int) -> int:
        """How far the bandit's check carries a trend: to the next rung's end, where halving would judge the arm."""
        return next((b for b in self.budgets if b > steps), self.steps) - steps

    def _bandit(self, steps: int, spent: int, entered: tuple[str, ...], estimates: Mapping[str, Estimate]
                ) -> tuple[tuple[str, ...], dict[str, str], dict[str, int]]:
        a = self.allocation
        z, ahead = a.confidence, self._ahead(steps)
        # Ranking at a rung's cut carries the trend no farther than the curve it was read from (a few noisy points
        # must not outrank a level), the check all the way (an arm is stopped only when even that cannot save it).
        rank_ahead = int(min(ahead, steps * a.window))
        strikes = dict(self.state.strikes)
        reasons: dict[str, str] = {}
        keep = []
        for k in entered:
            e = estimates[k]
            best = max(((o, estimates[o].lower(z)) for o in entered if o != k), key=lambda t: t[1],
                       default=(None, -math.inf))
            if e.level is not None and e.upper(z, ahead) < best[1]:
                strikes[k] = strikes.get(k, 0) + 1
            else:
                strikes[k] = 0
            if strikes[k] >= a.checks:
                reasons[k] = (f"its optimistic fitness {e.upper(z, ahead):.4g} (level {e.level:.4g} ± {z:g}×"
                              f"{e.stderr:.3g}, trend carried {ahead:,} steps) stayed below {best[0]}'s pessimistic "
                              f"{best[1]:.4g} at {a.checks} checks in a row")
            else:
                keep.append(k)
        if self.is_rung_end(steps):
            allowed = self._allowed(steps, spent, len(keep))
            if len(keep) > allowed:
                ranked = sorted(keep, key=lambda k: (-(_or_low(estimates[k].outlook(rank_ahead))), k))
                for k in ranked[allowed:]:
                    reasons[k] = (f"the budget left carries {allowed} arm{'s' if allowed != 1 else ''} past this rung, "
                                  f"and it ranked below them by its fitness with the trend carried {rank_ahead:,} steps")
                keep = [k for k in keep if k in ranked[:allowed]]
        if not keep and entered:  # never stop the last arms: the best by level goes on
            best_k = max(entered, key=lambda k: (_or_low(estimates[k].level), k))
            keep, reasons = [best_k], {k: r for k, r in reasons.items() if k != best_k}
        return tuple(keep), reasons, strikes

    def _allowed(self, steps: int, spent: int, candidates: int) -> int:
        """The most arms the budget still left can take past this rung and down the rest of the ladder."""
        rung = self.rung_of(steps) + 1
        left = self.total - spent
        allowed = 1
        for m in range(1, candidates + 1):
            if _ladder_cost(self.schedule, self.budgets, rung, m, steps) <= left:
                allowed = m
        return allowed


_LOWEST = -1e300
"""Below any fitness, and still a number a record can hold."""


def _or_low(value: float | None) -> float:
    return -math.inf if value is None else value

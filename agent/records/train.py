"""Typed records of successive halving and of compute spent, as stored in the run directory.

``round_NN/halving.json`` (:class:`HalvingRecord`) says which candidates entered each rung, at what
fitness, and which continued; ``cand_KK/early_stop.json`` (:class:`EarlyStop`) marks a candidate that
was stopped at a rung, so it is never reported as fully trained; ``costs.json`` (:class:`CostLog`)
holds what each job of a target cost (env-steps, CPU-seconds), summed by :class:`Compute`.
All three are written by the orchestrator only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

JobCostKind = Literal["train", "jax_round", "evaluate", "video"]
TRAINING_JOBS: tuple[JobCostKind, ...] = ("train", "jax_round")


@dataclass(frozen=True, kw_only=True)
class HalvingSchedule:
    """Successive halving across a round's candidates (``--halving ETA --first-rung FRACTION``)."""

    eta: int
    """Reduction factor: after each rung the top ``1/eta`` of the candidates (at least one) continue."""
    first_rung: float
    """The first rung's budget as a fraction of the full training budget, e.g. 1/9 = 0.111."""

    def __post_init__(self) -> None:
        if self.eta < 2:
            raise ValueError(f"--halving needs a reduction factor of at least 2, not {self.eta}")
        if not 0.0 < self.first_rung < 1.0:
            raise ValueError(f"--first-rung must be a fraction of the budget between 0 and 1, not {self.first_rung}")

    def budgets(self, steps: int, rollout: int) -> tuple[int, ...]:
        """Cumulative env-steps at the end of each rung; the last is the full budget ``steps``.

        Every rung ends on a whole PPO rollout (``rollout`` = n_steps × n_envs), since SB3 only stops
        between rollouts; rungs that would round to the same budget are merged.
        """
        out: list[int] = []
        fraction = self.first_rung
        while fraction < 1.0:
            budget = max(rollout, round(steps * fraction / rollout) * rollout)
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


@dataclass(frozen=True, kw_only=True)
class RungDecision:
    """One rung of one round: who trained to ``budget`` steps, their selection fitness, who continued."""

    rung: int
    budget: int
    entered: tuple[str, ...]
    fitness: dict[str, float | None]
    """Selection fitness at the end of the rung (None: the candidate failed or produced no policy)."""
    continued: tuple[str, ...]
    stopped: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class HalvingRecord:
    """``round_NN/halving.json``: the schedule and every decided rung, in order."""

    schedule: HalvingSchedule
    budgets: tuple[int, ...]
    rungs: tuple[RungDecision, ...] = ()


@dataclass(frozen=True, kw_only=True)
class EarlyStop:
    """``cand_KK/early_stop.json``: this candidate was stopped by successive halving.

    Its training and evaluation are those of rung ``rung`` (``cand_KK/rung_N/``): a partial training,
    ``steps_done`` of ``steps_planned``.
    """

    rung: int
    steps_done: int
    steps_planned: int
    selection_fitness: float | None
    cutoff_fitness: float | None
    """The lowest selection fitness that continued past this rung."""

    @property
    def text(self) -> str:
        """One sentence for a critique or the terminal."""
        at = f"at selection fitness {self.selection_fitness:.4g}" if self.selection_fitness is not None else "(no fitness)"
        cut = f" (the candidates that continued had {self.cutoff_fitness:.4g} or more)" if self.cutoff_fitness is not None else ""
        return (f"Stopped early by successive halving after rung {self.rung + 1}, {self.steps_done:,} of "
                f"{self.steps_planned:,} steps, {at}{cut}: not fully trained.")


@dataclass(frozen=True, kw_only=True)
class JobCost:
    """What one finished job cost, measured by the orchestrator (its process tree's CPU time)."""

    kind: JobCostKind
    rung: int | None
    """The halving rung it belonged to (None: no halving)."""
    env_steps: int
    """Environment steps the job trained for (0 for evaluation and video jobs)."""
    cpu_s: float
    wall_s: float
    """For a ``jax_round`` job (every arm of a round in one process): this arm's equal share, as ``cpu_s``."""


@dataclass(frozen=True)
class CostLog:
    """``costs.json``: every job a target ran, in order (a job rerun after a crash is listed again)."""

    jobs: tuple[JobCost, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Compute:
    """Compute spent: summed over jobs, per round or per run."""

    env_steps: int = 0
    cpu_s: float = 0.0
    jobs: int = 0
    train_wall_s: float = 0.0
    """Wall-clock seconds of the training jobs (``train``, ``jax_round``) added up."""

    def __add__(self, other: Compute) -> Compute:
        return Compute(env_steps=self.env_steps + other.env_steps, cpu_s=round(self.cpu_s + other.cpu_s, 3),
                       jobs=self.jobs + other.jobs, train_wall_s=round(self.train_wall_s + other.train_wall_s, 3))

    @classmethod
    def of(cls, costs: tuple[JobCost, ...]) -> Compute:
        return cls(env_steps=sum(c.env_steps for c in costs), cpu_s=round(sum(c.cpu_s for c in costs), 3),
                   jobs=len(costs), train_wall_s=round(sum(c.wall_s for c in costs if c.kind in TRAINING_JOBS), 3))


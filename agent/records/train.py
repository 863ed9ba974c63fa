"""Typed records of budget allocation and of compute spent, as stored in the run directory.

``round_NN/allocation.json`` (:class:`~envs.backends.allocation.AllocationRecord`) says, for each decision point of a round's
allocation (successive halving or the bandit, :mod:`envs.backends.allocation`), which candidates were
in, at what fitness, which continued and which stopped; ``cand_KK/early_stop.json`` (:class:`EarlyStop`)
marks a candidate that was stopped, so it is never reported as fully trained; ``costs.json``
(:class:`CostLog`) holds what each job of a target cost (env-steps, CPU-seconds), summed by
:class:`Compute`. All three are written by the orchestrator only (a jax round's decisions come from its
job's own record, which the orchestrator copies).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rewardsmith.envs.backends.allocation import Allocation, AllocationRecord, Decision, HalvingSchedule, PolicyName

__all__ = ["TRAINING_JOBS", "Allocation", "AllocationRecord", "Compute", "CostLog", "Decision", "EarlyStop",
           "HalvingSchedule", "JobCost", "JobCostKind"]

JobCostKind = Literal["train", "jax_round", "evaluate", "video"]
TRAINING_JOBS: tuple[JobCostKind, ...] = ("train", "jax_round")


@dataclass(frozen=True, kw_only=True)
class EarlyStop:
    """``cand_KK/early_stop.json``: this candidate was stopped by the round's allocation.

    Its training and evaluation are partial, ``steps_done`` of ``steps_planned``: in ``cand_KK/rung_N/`` when
    its rungs trained as jobs of their own (SB3), in its own files when it stopped inside the round's program
    (jax; ``in_rung_folder`` False).
    """

    rung: int
    steps_done: int
    steps_planned: int
    selection_fitness: float | None
    """The fitness it was judged by when it stopped (its recent training episodes')."""
    cutoff_fitness: float | None
    """The lowest such fitness among the candidates that continued past this decision."""
    policy: PolicyName = "halving"
    reason: str = ""
    """Why, in words (the allocation's own: ranked out at a rung, or the bandit's failed checks)."""
    in_rung_folder: bool = True

    @property
    def text(self) -> str:
        """One sentence for a critique or the terminal."""
        at = f"at fitness {self.selection_fitness:.4g}" if self.selection_fitness is not None else "(no fitness)"
        cut = f" (the candidates that continued had {self.cutoff_fitness:.4g} or more)" if self.cutoff_fitness is not None else ""
        who = "successive halving" if self.policy == "halving" else "the bandit"
        why = f": {self.reason}" if self.reason and self.policy != "halving" else ""
        return (f"Stopped early by {who} after rung {self.rung + 1}, {self.steps_done:,} of "
                f"{self.steps_planned:,} steps, {at}{cut}{why}: not fully trained.")


@dataclass(frozen=True, kw_only=True)
class JobCost:
    """What one finished job cost, measured by the orchestrator (its process tree's CPU time)."""

    kind: JobCostKind
    rung: int | None
    """The allocation rung it belonged to, when its rungs train as jobs of their own (None: otherwise)."""
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


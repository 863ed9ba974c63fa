"""What a run will train, counted before it starts: for ``--dry-run``, the progress display's ETA and the step budget.

PPO collects whole rollouts (``n_steps × n_envs`` environment steps), so a budget that is not a
multiple of the rollout is trained up to the next multiple; :func:`rollout_budget` says so out loud.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rewardsmith.envs.tasks import Task


@dataclass(frozen=True, kw_only=True)
class StepBudget:
    requested: int
    """The steps asked for (``--steps`` or the task file's budget)."""
    steps: int
    """What PPO trains: ``requested`` rounded up to whole rollouts."""
    rollout: int
    """Environment steps of one PPO rollout: ``n_steps × n_envs``."""
    n_steps: int
    n_envs: int

    @property
    def rounded(self) -> bool:
        return self.steps != self.requested

    def note(self, flag: str = "--steps") -> str:
        """One line saying how the budget was rounded; empty when it was not."""
        if not self.rounded:
            return ""
        return (f"{flag} {self.requested:,} is trained as {self.steps:,} steps: PPO collects whole rollouts of "
                f"{self.rollout:,} ({self.n_steps:,} steps × {self.n_envs} envs), "
                f"{self.steps // self.rollout} of them")


def rollout_budget(task: Task, requested: int | None) -> StepBudget:
    """The steps a training of ``task`` really does for a requested budget (None: the task file's)."""
    n_steps, n_envs = task.train.ppo.n_steps, task.train.n_envs
    rollout = n_steps * n_envs
    want = requested if requested is not None else task.train.steps
    return StepBudget(requested=want, steps=max(1, math.ceil(want / rollout)) * rollout, rollout=rollout,
                      n_steps=n_steps, n_envs=n_envs)


@dataclass(frozen=True, kw_only=True)
class RunPlan:
    """The trainings a run consists of (fix-retries, reviews and videos are not counted)."""

    rounds: int
    samples: int
    baselines: int
    """Baseline trainings (the env's own reward and the sparse one: 2, or 0 with ``--no-baselines``); round 1 only."""
    final_seeds: int
    final_arms: int
    """Rewards retrained per final seed: the best reward, plus the baselines when the run has them."""
    budget: StepBudget
    workers: int

    def trainings_in_round(self, rnd: int) -> int:
        return self.samples + (self.baselines if rnd == 1 else 0)

    @property
    def final_trainings(self) -> int:
        return self.final_seeds * self.final_arms

    @property
    def trainings(self) -> int:
        return self.rounds * self.samples + self.baselines + self.final_trainings

    @property
    def env_steps(self) -> int:
        return self.trainings * self.budget.steps

    def trainings_after(self, rnd: int) -> int:
        """Trainings of the rounds after ``rnd`` and of the final comparison."""
        return sum(self.trainings_in_round(r) for r in range(rnd + 1, self.rounds + 1)) + self.final_trainings

    def waves(self, trainings: int) -> int:
        """How many times ``workers`` trainings run side by side to get through ``trainings``."""
        return math.ceil(trainings / self.workers) if trainings else 0


def plan_run(task: Task, *, rounds: int, samples: int, steps: int | None, workers: int, baselines: bool,
             final_seeds: int) -> RunPlan:
    return RunPlan(rounds=rounds, samples=samples, baselines=2 if baselines else 0, final_seeds=final_seeds,
                   final_arms=3 if baselines else 1, budget=rollout_budget(task, steps), workers=workers)

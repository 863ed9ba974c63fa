"""What a run will do, counted before it starts, and how long that takes: for ``--dry-run``, the progress display's
ETA and the step budget.

A run is stages (each round, then the final comparison); a stage is validations, then one pipeline per
target (training, evaluation, a video when one is recorded) on ``workers`` workers. :class:`JobSeconds`
says how long each kind of job takes, as measured; :meth:`StageWork.seconds` and :func:`makespan` turn
jobs into wall time the way the executor schedules them.

PPO collects whole rollouts (``n_steps × n_envs`` environment steps), so a budget that is not a
multiple of the rollout is trained up to the next multiple; :func:`rollout_budget` says so out loud.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
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


def rollout_budget(task: Task, requested: int | None, backend: str) -> StepBudget:
    """The steps a training of ``task`` really does for a requested budget (None: the task file's on ``backend``)."""
    n_steps, n_envs = task.train.ppo.n_steps, task.train.n_envs
    rollout = n_steps * n_envs
    want = requested if requested is not None else task.train.steps_on(backend)
    return StepBudget(requested=want, steps=max(1, math.ceil(want / rollout)) * rollout, rollout=rollout,
                      n_steps=n_steps, n_envs=n_envs)


@dataclass(frozen=True, kw_only=True)
class JobSeconds:
    """How long one job of each kind takes on one worker, measured (the dry run's probe jobs, stored runs, or the
    jobs of this run that ended); None where nothing was measured yet."""

    validate: float | None = None
    """One candidate's validation (static check and sandboxed probe)."""
    train: float | None = None
    """One whole training at the run's budget, process start-up included."""
    evaluate: float | None = None
    """One evaluation: the selection and held-out episodes of a trained policy."""
    video: float | None = None
    """One rollout video (only recorded when a person reviews, or with ``--video``)."""
    batch: float | None = None
    """One program that trains a round's targets together (the jax backend), when the run has one."""
    batch_start: float | None = None
    """A program's seconds besides its targets' steps (process start, compile), when measured apart from them."""
    batch_target: float | None = None
    """The seconds one target's steps add to a program, when measured apart (a program's time grows with its targets)."""

    def program(self, targets: int) -> float | None:
        """One program's seconds for ``targets`` targets: from the per-target time when it was measured, else the
        program measured whole (:attr:`batch`)."""
        if self.batch_target is not None:
            return (self.batch_start or 0.0) + targets * self.batch_target
        return self.batch


@dataclass(frozen=True, kw_only=True)
class StageWork:
    """The jobs of one stage of a run: a round, or the final comparison."""

    title: str
    validations: int
    """Candidates to validate (fix-retries not counted)."""
    targets: int
    """Rewards to train, each followed by its evaluation."""
    videos: int
    """Of ``targets``, those that also record a rollout video."""

    def seconds(self, times: JobSeconds, workers: int, batched: bool = False) -> float | None:
        """The stage's wall time with ``workers`` jobs side by side; None while a training was never measured.

        ``batched``: the targets train together in one program (:attr:`JobSeconds.batch`), then are evaluated apart.
        """
        train = times.program(self.targets) if batched else times.train
        if train is None:
            return None
        validate = waves(self.validations, workers) * (times.validate or 0.0)
        per_target = (0.0 if batched else train) + (times.evaluate or 0.0)
        video = times.video or 0.0
        pipelines = [per_target + video] * self.videos + [per_target] * (self.targets - self.videos)
        return validate + (train if batched and self.targets else 0.0) + makespan([], pipelines, workers)


@dataclass(frozen=True, kw_only=True)
class RunPlan:
    """The jobs a run consists of (fix-retries, halving rungs and reviews are not counted)."""

    rounds: int
    samples: int
    baselines: int
    """Baseline trainings (the env's own reward and the sparse one: 2, or 0 with ``--no-baselines``); round 1 only."""
    final_seeds: int
    final_arms: int
    """Rewards retrained per final seed: the best reward, plus the baselines when the run has them."""
    budget: StepBudget
    workers: int
    videos: bool = False
    """A rollout video is recorded for every trained candidate (``--review cli|web`` or ``--video``)."""

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

    def round_stage(self, rnd: int) -> StageWork:
        return StageWork(title=f"round {rnd}", validations=self.samples, targets=self.trainings_in_round(rnd),
                         videos=self.samples if self.videos else 0)

    def final_stage(self) -> StageWork:
        return StageWork(title="final comparison", validations=0, targets=self.final_trainings, videos=0)

    def stages(self) -> list[StageWork]:
        """Every stage in order: the rounds, then the final comparison when the run has one."""
        final = [self.final_stage()] if self.final_trainings else []
        return [self.round_stage(r) for r in range(1, self.rounds + 1)] + final

    def stages_after(self, rnd: int | None) -> list[StageWork]:
        """The stages after round ``rnd`` (None: after the final comparison, so none)."""
        return [] if rnd is None else self.stages()[rnd:]


def waves(jobs: int, workers: int) -> int:
    """How many times ``workers`` jobs run side by side to get through ``jobs``."""
    return math.ceil(jobs / max(1, workers)) if jobs > 0 else 0


def makespan(running: Sequence[float], queued: Sequence[float], workers: int) -> float:
    """Seconds until the last job ends: each of ``running`` holds a worker for the seconds it has left, and each of
    ``queued`` (in order) starts on the first worker that is free, as the executor starts a pipeline's steps on the
    worker it holds until the pipeline ends (:func:`agent.train.executors.base.run_pipelines`)."""
    free = sorted(max(0.0, s) for s in running)
    free += [0.0] * max(0, workers - len(free))
    heapq.heapify(free)
    for seconds in queued:
        heapq.heappush(free, heapq.heappop(free) + seconds)
    return max(free, default=0.0)


def plan_run(task: Task, *, backend: str, rounds: int, samples: int, steps: int | None, workers: int,
             baselines: bool, final_seeds: int, videos: bool = False) -> RunPlan:
    return RunPlan(rounds=rounds, samples=samples, baselines=2 if baselines else 0, final_seeds=final_seeds,
                   final_arms=3 if baselines else 1, budget=rollout_budget(task, steps, backend), workers=workers,
                   videos=videos)

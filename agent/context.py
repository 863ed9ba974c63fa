"""What the loop's phases share for one run, made once at its start: :class:`RunContext`.

Task, configuration, run store and display, the designer and the reviewer, recorded states to
validate on, the task's goal as the analyzer reads it, and the :class:`~agent.train.pipelines.Trainer`
(training settings, backend and executor — one executor for the rounds, tuning and the final
comparison, local processes or a Ray cluster).
"""

from __future__ import annotations

from dataclasses import dataclass

from rewardsmith.agent.design.designers import Designer, make_designer
from rewardsmith.agent.display import ProgressView
from rewardsmith.agent.goal.task_goal import task_goal
from rewardsmith.agent.records.config import RunConfig, RunRecord
from rewardsmith.agent.review.gate import RoundReviewer
from rewardsmith.agent.review.reviewers import make_reviewer
from rewardsmith.agent.rundir.store import RunStore
from rewardsmith.agent.train.backends import resolve_backend
from rewardsmith.agent.train.executors import make_executor
from rewardsmith.agent.train.pipelines import Trainer
from rewardsmith.agent.train.plan import plan_run
from rewardsmith.agent.train.targets import TrainSettings, TrainTarget
from rewardsmith.core.errors import FitnessError
from rewardsmith.core.state import StateSpec
from rewardsmith.envs.fitness import check_fitness_file
from rewardsmith.envs.rollout import StateSample, random_rollout
from rewardsmith.envs.tasks import Task, load_task

FITNESS_CHECK_TIMEOUT_S = 60.0
"""Importing the task's fitness module and scoring the sample episodes must take less than this."""


@dataclass(frozen=True, kw_only=True)
class RunContext:
    """Everything the loop's phases share for one run."""

    record: RunRecord
    task: Task
    store: RunStore
    view: ProgressView
    trainer: Trainer
    """Training settings, backend and executor of the run (rounds, tuning and the final comparison)."""
    designer: Designer
    reviewer: RoundReviewer | None
    """Who reviews a round (``--review``); None = selection by fitness alone."""
    sample: StateSample
    """Recorded states (random actions) every candidate is validated on."""
    goal: StateSpec
    """The task's fields as its goal reads them (the analyzer's view of the task)."""
    baselines: tuple[TrainTarget, ...]
    """The env's own reward and the sparse reward, trained beside round 1 (none with ``--no-baselines``)."""

    @property
    def cfg(self) -> RunConfig:
        return self.record.config


def start_run(store: RunStore, record: RunRecord, view: ProgressView,
              reviewer: RoundReviewer | None = None) -> RunContext:
    """Everything a run needs before its first round; the fitness function is checked on random episodes first.

    ``reviewer`` overrides the one ``--review`` implies (tests answer the review programmatically).
    """
    cfg = record.config
    task = load_task(cfg.task)
    designer = make_designer(cfg.designer, llm=cfg.llm, run_dir=store.root)
    sample = random_rollout(task, n=256, seed=cfg.seed)
    check_fitness(task, sample)
    resolved, backend, _ = resolve_backend(task, cfg)
    settings = TrainSettings.for_run(task, resolved)
    trainer = Trainer(task=task, settings=settings, backend=backend, executor=make_executor(cfg, store.root),
                      store=store, on_event=view.executor_event)
    view.plan = plan_run(task, backend=resolved.backend, rounds=cfg.rounds, samples=cfg.samples, steps=settings.steps, workers=cfg.workers,
                         baselines=cfg.baselines, final_seeds=cfg.final_seeds, videos=cfg.records_videos)
    return RunContext(record=record, task=task, store=store, view=view, trainer=trainer, designer=designer,
                      reviewer=reviewer or make_reviewer(cfg, view.console.print), sample=sample,
                      goal=task_goal(task).spec,
                      baselines=baseline_targets(store) if cfg.baselines else ())


def check_fitness(task: Task, sample: StateSample) -> None:
    """Run the fitness function on random episodes before any training (in a child process, bounded); raise if it fails."""
    if not sample.episodes:
        raise FitnessError(f"a random rollout of {task.env_id} finished no episode to check the fitness function on")
    check_fitness_file(task, sample.episodes, FITNESS_CHECK_TIMEOUT_S)


def baseline_targets(store: RunStore) -> tuple[TrainTarget, ...]:
    return (TrainTarget(key="human", files=store.baseline_files("human"), reward_kind="env"),
            TrainTarget(key="sparse", files=store.baseline_files("sparse"), reward_kind="sparse"))

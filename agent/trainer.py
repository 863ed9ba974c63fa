"""The train-and-evaluate stage: turn accepted candidates (and baselines) into job pipelines.

Each target gets a pipeline of processes, training then evaluation (then, for review, a rollout
video), run by the executor. Work already on disk is not redone: a target with ``fitness.json`` is
finished, one with a saved policy only needs evaluating. How a job died (timeout, crash) is
recorded by the store in ``failures.json``, so every target ends with a status.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from agent.config import RunConfig
from agent.executor import ExecutorEvent, JobStep, LocalExecutor, Pipeline, StepOutcome
from agent.records import JobFailure, TargetOutcome
from agent.store import RunStore, TargetFiles
from core.errors import FitnessError
from envs.evaluation import seed_sets
from envs.tasks import Task
from envs.training import RewardKind, TrainJob
from envs.video import render_env
from sandboxes.isolation import ALLOW_WEAK_ENV


@dataclass(frozen=True, kw_only=True)
class TrainTarget:
    """Something to train: a candidate (by id) or a baseline ("human", "sparse")."""

    key: str
    files: TargetFiles
    reward_kind: RewardKind
    reward_file: Path | None = None
    """The candidate's reward module; None = the target's own ``reward.py``."""
    seed: int | None = None
    """Training seed; None = the settings' seed (shared by all targets of a run)."""
    video: bool = False
    """Record a rollout video (``video.mp4``) after evaluation."""


@dataclass(frozen=True, kw_only=True)
class TrainSettings:
    steps: int
    seed: int
    timeout_s: float
    call_timeout_s: float
    selection_seeds: tuple[int, ...]
    heldout_seeds: tuple[int, ...]
    video_timeout_s: float = 180.0
    allow_weak_sandbox: bool = False
    """Training jobs may run the candidate below full isolation (``--allow-weak-sandbox``)."""

    @classmethod
    def for_run(cls, task: Task, cfg: RunConfig, steps: int | None = None) -> TrainSettings:
        """The settings every target of a run (or a bench/evaluate command) trains with."""
        selection, heldout = seed_sets(cfg.seed, task.eval.selection_episodes, task.eval.heldout_episodes)
        return cls(steps=steps or cfg.steps or task.train.steps, seed=cfg.seed,
                   timeout_s=cfg.train_timeout_s or float(task.train.timeout_s), call_timeout_s=cfg.call_timeout_s,
                   selection_seeds=selection, heldout_seeds=heldout, allow_weak_sandbox=cfg.allow_weak_sandbox)


def train_and_evaluate(task: Task, targets: list[TrainTarget], settings: TrainSettings, executor: LocalExecutor,
                       store: RunStore, on_event: Callable[[ExecutorEvent], None]) -> dict[str, TargetOutcome]:
    """Train and evaluate every target that is not finished yet; return all targets' outcomes."""
    pipelines = [p for p in (_pipeline(task, t, settings, store) for t in targets) if p is not None]
    outcomes = executor.run(pipelines, on_event)
    for key, steps in outcomes.items():
        blamed = next((o for o in steps if o.status == "fitness_failed"), None)
        if blamed is not None:  # every candidate would be charged with it: stop the run instead (resumable)
            raise FitnessError(f"the task's fitness function failed while {key} was in its {blamed.kind} step "
                               f"({blamed.detail}); fix {task.fitness_ref} and resume the run")
    for target in targets:
        failures = tuple(_failure(o, target.reward_kind) for o in outcomes.get(target.key, [])
                         if o.status in ("timeout", "crashed"))
        if failures:
            store.save_failures(target.files, failures)
    return {t.key: store.outcome(t.files) for t in targets}


def _pipeline(task: Task, target: TrainTarget, s: TrainSettings, store: RunStore) -> Pipeline | None:
    f = target.files
    video = JobStep(kind="video", spec=f.video_job(task.source, s.selection_seeds[:1], target.key),
                    spec_file=f.job_spec("video"), log_file=f.job_log("video"), timeout_s=s.video_timeout_s,
                    env=render_env())
    outcome = store.outcome(f)
    wants_video = target.video and outcome.video is None
    if store.is_finished(f):
        evaluated = outcome.evaluation is not None and store.has_policy(f)
        return Pipeline(target.key, (video,)) if wants_video and evaluated else None
    reward_file = str(target.reward_file or f.reward) if target.reward_kind == "candidate" else None
    train_job = TrainJob(task_file=str(task.source), reward_kind=target.reward_kind, reward_file=reward_file,
                         steps=s.steps, seed=s.seed if target.seed is None else target.seed,
                         outputs=f.train_outputs(), call_timeout_s=s.call_timeout_s)
    train = JobStep(kind="train", spec=train_job, spec_file=f.job_spec("train"), log_file=f.job_log("train"),
                    timeout_s=s.timeout_s, progress_file=f.progress,
                    env={ALLOW_WEAK_ENV: "1"} if s.allow_weak_sandbox else {})
    evaluate = JobStep(kind="evaluate", spec=f.eval_job(task.source, s.selection_seeds, s.heldout_seeds),
                       spec_file=f.job_spec("eval"), log_file=f.job_log("eval"), timeout_s=max(120.0, s.timeout_s / 4))
    steps = (evaluate,) if outcome.training is not None else (train, evaluate)
    return Pipeline(target.key, (*steps, video) if wants_video else steps)


def _failure(outcome: StepOutcome, reward_kind: RewardKind) -> JobFailure:
    status: Literal["timeout", "crashed"] = "timeout" if outcome.status == "timeout" else "crashed"
    return JobFailure(kind=outcome.kind, status=status, detail=outcome.detail or outcome.status,
                      wall_s=outcome.wall_s, reward_kind=reward_kind)

"""The train-and-evaluate stage: turn accepted candidates (and baselines) into job pipelines.

Each target gets a pipeline of processes, training then evaluation (then, for review, a rollout
video), run by the executor.
Work already on disk is not redone: a target with ``fitness.json`` is finished, one with a saved
policy only needs evaluating. Failures the executor saw (timeouts, crashes) are written back as
typed training results, so every target ends with a status.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agent.executor import ExecutorEvent, JobStep, LocalExecutor, Pipeline, StepOutcome
from agent.store import evaluation_result, has_policy, training_result
from core.atomic import write_json
from envs.evaluation import FITNESS_FILE, EvalJob, EvaluationResult
from envs.tasks import Task
from envs.training import (
    METRICS_FILE,
    POLICY_FILE,
    PROGRESS_FILE,
    RewardKind,
    TrainingResult,
    TrainJob,
    TrainStatus,
)
from envs.video import VIDEO_RESULT, VideoJob, VideoResult, render_env


@dataclass(frozen=True)
class TrainTarget:
    """Something to train: a candidate (by id) or a baseline ("human", "sparse")."""

    key: str
    dir: Path
    reward_kind: RewardKind
    reward_file: Path | None = None
    seed: int | None = None
    """Training seed; None = the settings' seed (shared by all targets of a run)."""
    video: bool = False
    """Record a rollout video (``video.mp4``) after evaluation."""

    @property
    def finished(self) -> bool:
        """Evaluated, or trained without producing a policy: nothing left to do."""
        if (self.dir / FITNESS_FILE).is_file():
            return True
        previous = training_result(self.dir)
        return previous is not None and not (previous.trained and has_policy(self.dir))


@dataclass(frozen=True)
class TrainSettings:
    steps: int
    seed: int
    timeout_s: float
    call_timeout_s: float
    selection_seeds: tuple[int, ...]
    heldout_seeds: tuple[int, ...]
    video_timeout_s: float = 180.0


def train_and_evaluate(task: Task, targets: list[TrainTarget], settings: TrainSettings, executor: LocalExecutor,
                       on_event: Callable[[ExecutorEvent], None]) -> dict[str, tuple[TrainingResult | None,
                                                                                       EvaluationResult | None]]:
    """Train and evaluate every target that is not finished yet; return all targets' results."""
    pipelines = [p for p in (_pipeline(task, t, settings) for t in targets) if p is not None]
    outcomes = executor.run(pipelines, on_event)
    for target in targets:
        if target.key in outcomes:
            _record_failures(target, outcomes[target.key])
    return {t.key: (training_result(t.dir), evaluation_result(t.dir)) for t in targets}


def _pipeline(task: Task, target: TrainTarget, s: TrainSettings) -> Pipeline | None:
    d = target.dir
    video = JobStep("video", VideoJob(str(task.source), str(d / POLICY_FILE), str(d), s.selection_seeds[:1],
                                      target.key),
                    d / "video_job.json", d / "video.log", s.video_timeout_s, env=render_env())
    wants_video = target.video and not (d / VIDEO_RESULT).is_file()
    if target.finished:
        evaluated = (d / FITNESS_FILE).is_file() and has_policy(d)
        return Pipeline(target.key, (video,)) if wants_video and evaluated else None
    previous = training_result(d)
    train = JobStep("train", TrainJob(str(task.source), target.reward_kind,
                                      str(target.reward_file) if target.reward_file else None, s.steps,
                                      s.seed if target.seed is None else target.seed,
                                      str(d), s.call_timeout_s),
                    d / "train_job.json", d / "train.log", s.timeout_s, d / PROGRESS_FILE)
    evaluate = JobStep("evaluate", EvalJob(str(task.source), str(d / POLICY_FILE), s.selection_seeds,
                                           s.heldout_seeds, str(d / FITNESS_FILE)),
                       d / "eval_job.json", d / "eval.log", max(120.0, s.timeout_s / 4))
    steps = (evaluate,) if previous is not None else (train, evaluate)
    return Pipeline(target.key, (*steps, video) if wants_video else steps)


def _record_failures(target: TrainTarget, outcomes: list[StepOutcome]) -> None:
    video = next((o for o in outcomes if o.kind == "video"), None)
    if video is not None and video.status in ("timeout", "crashed") and not (target.dir / VIDEO_RESULT).is_file():
        # A renderer that hung or died is recorded like any failure; the run goes on without the video.
        write_json(target.dir / VIDEO_RESULT, VideoResult("timeout" if video.status == "timeout" else "crashed",
                                                          video.detail or video.status, None, 0, 0, (), "",
                                                          video.wall_s))
    train = next((o for o in outcomes if o.kind == "train"), None)
    if train is None or train.status not in ("timeout", "crashed"):
        return
    status: TrainStatus = "timeout" if train.status == "timeout" else "crashed"
    write_json(target.dir / METRICS_FILE, TrainingResult(
        status=status, error=train.detail, reward_kind=target.reward_kind, steps_done=0, steps_planned=0,
        wall_s=train.wall_s, components=(), checkpoints=(), policy=None))

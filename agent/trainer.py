"""The train-and-evaluate stage: turn accepted candidates (and baselines) into job pipelines.

Each target gets a pipeline of processes, training then evaluation (then, for review, a rollout
video), run by the executor. Work already on disk is not redone: a target with ``fitness.json`` is
finished, one with a saved policy only needs evaluating. How a job died (timeout, crash) is
recorded by the store in ``failures.json``, so every target ends with a status.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from rewardsmith.agent.compute import record_costs
from rewardsmith.agent.config import RunConfig
from rewardsmith.agent.executor import Executor, ExecutorEvent, JobStep, Pipeline, StepOutcome
from rewardsmith.agent.records import JobFailure, TargetOutcome
from rewardsmith.agent.rungs import JobCost
from rewardsmith.agent.store import CandidateFiles, RoundFiles, RunStore, TargetFiles
from rewardsmith.core.errors import FitnessError, RunStoreError
from rewardsmith.envs.evaluation import seed_sets
from rewardsmith.envs.jaxtrain.job import JaxArm, JaxRoundJob
from rewardsmith.envs.tasks import Task
from rewardsmith.envs.training import ResumeFrom, RewardKind, TrainJob
from rewardsmith.envs.video import render_env
from rewardsmith.sandboxes.isolation import ALLOW_WEAK_ENV


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
    module: CandidateFiles | None = None
    """Where the reward's exported JAX module lies (jax backend); None = the target's own files."""

    @property
    def module_files(self) -> CandidateFiles | None:
        """The files holding this target's exported module, if it is a reward module's target at all."""
        if self.module is not None:
            return self.module
        return self.files if isinstance(self.files, CandidateFiles) and self.reward_kind == "candidate" else None


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
    backend: Literal["sb3", "jax"] = "sb3"
    """sb3: one training process per target; jax: every target of a call trained in one compiled program."""

    @classmethod
    def for_run(cls, task: Task, cfg: RunConfig, steps: int | None = None) -> TrainSettings:
        """The settings every target of a run (or a bench/evaluate command) trains with."""
        selection, heldout = seed_sets(cfg.seed, task.eval.selection_episodes, task.eval.heldout_episodes)
        return cls(steps=steps or cfg.steps or task.train.steps, seed=cfg.seed,
                   timeout_s=cfg.train_timeout_s or float(task.train.timeout_s), call_timeout_s=cfg.call_timeout_s,
                   selection_seeds=selection, heldout_seeds=heldout, allow_weak_sandbox=cfg.allow_weak_sandbox,
                   backend="jax" if cfg.backend == "jax" else "sb3")


def train_and_evaluate(task: Task, targets: list[TrainTarget], settings: TrainSettings, executor: Executor,
                       store: RunStore, on_event: Callable[[ExecutorEvent], None],
                       batch: RoundFiles | None = None) -> dict[str, TargetOutcome]:
    """Train and evaluate every target that is not finished yet; return all targets' outcomes.

    On the jax backend the targets still to train are trained first, together, in one job (its files
    in ``batch``); their evaluation and videos then run per target as on the sb3 backend.
    """
    if settings.backend == "jax":
        assert batch is not None, "the jax backend trains a batch of targets: say where its files go"
        _train_together(task, targets, settings, executor, store, on_event, batch)
    run_legs(task, [Leg(target=t, files=t.files, steps=settings.steps, video=t.video) for t in targets], settings,
             executor, store, on_event)
    return {t.key: store.outcome(t.files) for t in targets}


def _train_together(task: Task, targets: list[TrainTarget], s: TrainSettings, executor: Executor,
                    store: RunStore, on_event: Callable[[ExecutorEvent], None], batch: RoundFiles) -> None:
    """One ``jax_round`` job for every target that has no training result yet (one compiled program)."""
    pending = [t for t in targets if not store.is_finished(t.files) and store.outcome(t.files).training is None]
    if not pending:
        return
    arms = []
    for t in pending:
        module = t.module_files
        info = store.load_jax_module_info(module) if module is not None else None
        if t.reward_kind == "candidate" and info is None:
            raise RunStoreError(f"{t.files.dir}: no exported module for the jax backend; validate it with --backend jax")
        arms.append(JaxArm(key=t.key, reward_kind=t.reward_kind,
                           module_file=str(module.jax_module) if module is not None else None,
                           components=info.components if info else (), constants=info.constants if info else {},
                           outputs=t.files.train_outputs()))
    job = JaxRoundJob(task_file=str(task.source), arms=tuple(arms), steps=s.steps, seed=s.seed, timeout_s=s.timeout_s,
                      progress_file=str(batch.jax_round("progress")), stats_file=str(batch.jax_round("stats")))
    step = JobStep(kind="jax_round", spec=job, spec_file=batch.jax_round("spec"), log_file=batch.jax_round("log"),
                   timeout_s=s.timeout_s, progress_file=batch.jax_round("progress"))
    outcome = executor.run([Pipeline("jax round", (step,))], on_event)["jax round"][0]
    # One process trained every arm: each is charged its own env-steps and an equal share of the job's CPU and
    # wall time, so the arms' costs add up to the job's.
    share = len(pending)
    for t in pending:
        training = store.outcome(t.files).training
        store.add_costs(t.files, (JobCost(kind="jax_round", rung=None, env_steps=training.job_steps if training else 0,
                                          cpu_s=round(outcome.cpu_s / share, 3), wall_s=round(outcome.wall_s / share, 3)),))
    stats = store.load_round_stats(batch)
    if outcome.status == "ok" and stats is not None:
        note = (f"{stats.arms} arms in one program on {stats.platform}: compiled in {stats.compile_s:.1f} s, "
                f"trained at {stats.steps_per_s:,.0f} env-steps/s")
        on_event(ExecutorEvent(key="jax round", kind="jax_round", state="ended", fraction=1.0,
                               outcome=replace(outcome, detail=note)))
    if outcome.status == "fitness_failed":
        raise FitnessError(f"the task's fitness function failed in the jax round ({outcome.detail}); "
                           f"fix {task.fitness_ref} and resume the run")
    if outcome.status in ("timeout", "crashed"):
        for t in pending:  # the program held every arm: each is charged with how it ended
            if store.outcome(t.files).training is None:
                store.save_failures(t.files, (_failure(outcome, t.reward_kind),))


def _failure(outcome: StepOutcome, reward_kind: RewardKind) -> JobFailure:
    status: Literal["timeout", "crashed"] = "timeout" if outcome.status == "timeout" else "crashed"
    kind: Literal["train", "evaluate", "video"] = "train" if outcome.kind == "jax_round" else outcome.kind
    return JobFailure(kind=kind, status=status, detail=outcome.detail or outcome.status, wall_s=outcome.wall_s,
                      reward_kind=reward_kind)


@dataclass(frozen=True, kw_only=True)
class Leg:
    """One target's training in one executor call: where it writes, how far it trains, what it resumes."""

    target: TrainTarget
    files: TargetFiles
    steps: int
    resume: TargetFiles | None = None
    """The earlier rung whose checkpoint this training continues (successive halving)."""
    checkpoint: bool = False
    """Also write a checkpoint that a later rung can continue from."""
    video: bool = False
    """Record a rollout video after evaluation."""


def run_legs(task: Task, legs: list[Leg], s: TrainSettings, executor: Executor, store: RunStore,
             on_event: Callable[[ExecutorEvent], None], rung: int | None = None) -> None:
    """Run every leg's pipeline (train, evaluate, video; what is on disk is not redone) and record the
    outcome: job costs in the target's ``costs.json``, how a job died in the leg's ``failures.json``.
    A fitness function that failed in a job stops the run instead of being charged to the candidate.
    """
    pipelines = [p for p in (_leg_pipeline(task, leg, s, store) for leg in legs) if p is not None]
    if not pipelines:
        return
    outcomes = executor.run(pipelines, on_event)
    files = {leg.target.key: leg.files for leg in legs}
    record_costs(store, files, outcomes, rung, log_to={leg.target.key: leg.target.files for leg in legs})
    for key, steps in outcomes.items():
        blamed = next((o for o in steps if o.status == "fitness_failed"), None)
        if blamed is not None:  # every candidate would be charged with it: stop the run instead (resumable)
            raise FitnessError(f"the task's fitness function failed while {key} was in its {blamed.kind} step "
                               f"({blamed.detail}); fix {task.fitness_ref} and resume the run")
    for leg in legs:
        failures = tuple(_failure(o, leg.target.reward_kind) for o in outcomes.get(leg.target.key, [])
                         if o.status in ("timeout", "crashed"))
        if failures:
            store.save_failures(leg.files, failures)


def _leg_pipeline(task: Task, leg: Leg, s: TrainSettings, store: RunStore) -> Pipeline | None:
    f, key = leg.files, leg.target.key
    video = JobStep(kind="video", spec=f.video_job(task.source, s.selection_seeds[:1], key),
                    spec_file=f.job_spec("video"), log_file=f.job_log("video"), timeout_s=s.video_timeout_s,
                    env=render_env())
    outcome = store.outcome(f)
    wants_video = leg.video and outcome.video is None
    if store.is_finished(f):
        evaluated = outcome.evaluation is not None and store.has_policy(f)
        return Pipeline(key, (video,)) if wants_video and evaluated else None
    target = leg.target
    reward_file = str(target.reward_file or target.files.reward) if target.reward_kind == "candidate" else None
    resume = None
    if leg.resume is not None:
        resume = ResumeFrom(checkpoint_file=str(leg.resume.checkpoint), metrics_file=str(leg.resume.metrics))
    job = TrainJob(task_file=str(task.source), reward_kind=target.reward_kind, reward_file=reward_file,
                   steps=leg.steps, seed=s.seed if target.seed is None else target.seed,
                   outputs=f.resumable_outputs() if leg.checkpoint else f.train_outputs(),
                   call_timeout_s=s.call_timeout_s, resume_from=resume,
                   planned_steps=s.steps if leg.steps < s.steps else None)
    train = JobStep(kind="train", spec=job, spec_file=f.job_spec("train"), log_file=f.job_log("train"),
                    timeout_s=s.timeout_s, progress_file=f.progress,
                    env={ALLOW_WEAK_ENV: "1"} if s.allow_weak_sandbox else {})
    evaluate = JobStep(kind="evaluate", spec=f.eval_job(task.source, s.selection_seeds, s.heldout_seeds),
                       spec_file=f.job_spec("eval"), log_file=f.job_log("eval"), timeout_s=max(120.0, s.timeout_s / 4))
    steps = (evaluate,) if outcome.training is not None else (train, evaluate)
    return Pipeline(key, (*steps, video) if wants_video else steps)

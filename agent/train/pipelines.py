"""The train-and-evaluate stage: a :class:`Trainer` turns targets into job pipelines and runs them.

Each target gets a pipeline of processes — training (unless the backend trains every target of the
call in one batch job first), then evaluation, then, for review, a rollout video — run by the
executor. Work already on disk is not redone: a target with ``fitness.json`` is finished, one with a
saved policy only needs evaluating. How a job died (timeout, crash) is recorded by the store in
``failures.json``, so every target ends with a status; what each job cost goes to ``costs.json``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from rewardsmith.agent.records.results import TargetOutcome
from rewardsmith.agent.records.train import Allocation
from rewardsmith.agent.rundir.store import RoundFiles, RunStore
from rewardsmith.agent.train.backends.base import Backend
from rewardsmith.agent.train.compute import record_costs
from rewardsmith.agent.train.executors.base import Executor, ExecutorEvent, JobStep, Pipeline
from rewardsmith.agent.train.isolation import BatchTraining, job_failure
from rewardsmith.agent.train.targets import Leg, TrainSettings, TrainTarget
from rewardsmith.core.errors import FitnessError
from rewardsmith.envs.tasks import Task
from rewardsmith.envs.video import render_env


@dataclass(frozen=True, kw_only=True)
class Trainer:
    """Trains and evaluates targets of one task: its settings, backend, executor, run store and listener."""

    task: Task
    settings: TrainSettings
    backend: Backend
    executor: Executor
    store: RunStore
    on_event: Callable[[ExecutorEvent], None] = lambda _e: None

    def with_(self, **changes: Any) -> Trainer:
        """This trainer with some fields changed (e.g. ``settings=…`` for a tuning rung's budget)."""
        return replace(self, **changes)

    def train_and_evaluate(self, targets: list[TrainTarget], batch: RoundFiles | None = None,
                           allocation: Allocation | None = None) -> dict[str, TargetOutcome]:
        """Train and evaluate every target that is not finished yet; return all targets' outcomes.

        A backend that trains a call's targets together (jax) trains them first, in one job whose files go
        in ``batch`` (with ``allocation``, its program spreads the budget over the candidates); their
        evaluation and videos then run per target.
        """
        self.run_legs([Leg(target=t, files=t.files, steps=self.settings.steps, video=t.video) for t in targets],
                      batch=batch, allocation=allocation)
        return {t.key: self.store.outcome(t.files) for t in targets}

    def run_legs(self, legs: list[Leg], rung: int | None = None, batch: RoundFiles | None = None,
                 allocation: Allocation | None = None) -> None:
        """Run every leg's pipeline (train, evaluate, video; what is on disk is not redone) and record the
        outcome: job costs in the target's ``costs.json``, how a job died in the leg's ``failures.json``.
        A fitness function that failed in a job stops the run instead of being charged to the candidate.
        """
        self._train_batch(legs, batch, allocation)
        pipelines = [p for p in (self._pipeline(leg) for leg in legs) if p is not None]
        if not pipelines:
            return
        outcomes = self.executor.run(pipelines, self.on_event)
        files = {leg.target.key: leg.files for leg in legs}
        record_costs(self.store, files, outcomes, rung, log_to={leg.target.key: leg.target.files for leg in legs})
        for key, steps in outcomes.items():
            blamed = next((o for o in steps if o.status == "fitness_failed"), None)
            if blamed is not None:  # every candidate would be charged with it: stop the run instead (resumable)
                raise FitnessError(f"the task's fitness function failed while {key} was in its {blamed.kind} step "
                                   f"({blamed.detail}); fix {self.task.fitness_ref} and resume the run")
        for leg in legs:
            failures = tuple(job_failure(o, leg.target.reward_kind) for o in outcomes.get(leg.target.key, [])
                             if o.status in ("timeout", "crashed"))
            if failures:
                self.store.save_failures(leg.files, failures)

    def _train_batch(self, legs: list[Leg], batch: RoundFiles | None, allocation: Allocation | None) -> None:
        """The backend's one job for every leg that has no training result yet, when it trains a call together;
        if that job fails, its culprits are found by retraining the legs apart (:mod:`agent.train.isolation`)."""
        BatchTraining(task=self.task, settings=self.settings, backend=self.backend, executor=self.executor,
                      store=self.store, on_event=self.on_event).train(legs, batch, allocation)

    def _pipeline(self, leg: Leg) -> Pipeline | None:
        task, s, store = self.task, self.settings, self.store
        f, key = leg.files, leg.target.key
        video = JobStep(kind="video", spec=f.video_job(task.source, s.selection_seeds[:1], key),
                        spec_file=f.job_spec("video"), log_file=f.job_log("video"), timeout_s=s.video_timeout_s,
                        env=render_env())
        outcome = store.outcome(f)
        # A training the round's allocation stopped short is evaluated (its partial result is reported), not filmed.
        partial = outcome.training is not None and outcome.training.steps_done < outcome.training.steps_planned
        wants_video = leg.video and outcome.video is None and not partial
        if store.is_finished(f):
            evaluated = outcome.evaluation is not None and store.has_policy(f)
            return Pipeline(key, (video,)) if wants_video and evaluated else None
        evaluate = JobStep(kind="evaluate", spec=f.eval_job(task.source, s.selection_seeds, s.heldout_seeds),
                           spec_file=f.job_spec("eval"), log_file=f.job_log("eval"),
                           timeout_s=max(120.0, s.timeout_s / 4))
        train = None if outcome.training is not None else self.backend.train_step(task, leg, s)
        steps = (evaluate,) if train is None else (train, evaluate)
        return Pipeline(key, (*steps, video) if wants_video else steps)


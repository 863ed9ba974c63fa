"""Training a batch of targets in one job, and finding the culprit when that job fails.

A backend that trains every target of a call in one program (the jax backend's round) shares that
program's fate between its arms: a reward that hangs, runs past the timeout, crashes at the training
batch size or runs the job out of its memory cap takes the whole job down. Charging every arm with
that would tell the designer that its good rewards failed, so a failed batch is retrained apart:

- **The baselines together, and each candidate alone**, in one executor call (side by side as far as
  its workers allow), each job bounded by the round's own timeout. Baselines run no candidate code,
  so they are never held up by one; a target that fails alone is the culprit and is charged with how
  its own job ended (timeout, crash, out of memory: the job's last error line), the others keep their
  real results. Why alone rather than in halves: on this workload a job's compile-and-train time is
  seconds while a culprit that hangs costs a whole timeout for every job it is in, so halving would
  wait out about log2(K) timeouts in a row where one wave of single jobs waits out one (or one per
  worker's share of the culprits); the extra compiles are cheap beside that.
- **Bounded**: the retraining gets :data:`ISOLATION_BUDGET` round timeouts of wall time. Past that no
  new part starts and those in flight are stopped (the executor notices at its next event, at most one
  round timeout later); every target still without a result is charged with the batch's own failure,
  saying that it was not isolated in time.
- **Resumable**: the batch's failure is kept in ``isolation.json`` (:meth:`RunStore.save_batch_failure`)
  and each part's job writes its targets' own results, so a killed run resumes with the parts still
  open, never with the whole batch again, and a target with a result (or a recorded failure) is done
  (:meth:`RunStore.is_finished`).

Costs: a job that trained several targets is charged to each of them in equal shares (their env-steps
their own), so a target's ``costs.json`` shows the failed batch's share and its own retraining.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from rewardsmith.agent.records.results import BatchFailure, JobFailure
from rewardsmith.agent.records.train import Allocation, JobCost
from rewardsmith.agent.rundir.store import RoundFiles, RunStore
from rewardsmith.agent.train.backends.base import Backend
from rewardsmith.agent.train.executors.base import Executor, ExecutorEvent, JobStep, Pipeline, StepOutcome
from rewardsmith.agent.train.targets import Leg, TrainSettings
from rewardsmith.core.errors import FitnessError
from rewardsmith.envs.backends.records import RewardKind
from rewardsmith.envs.tasks import Task

ISOLATION_BUDGET = 3.0
"""Wall time the retraining of a failed batch may take, in round timeouts (``TrainSettings.timeout_s``)."""


@dataclass(frozen=True)
class _Part:
    """Some of a batch's targets trained in one job: its key (the display's row), its legs, where its job files go."""

    key: str
    legs: tuple[Leg, ...]
    files: RoundFiles


class _BudgetSpent(Exception):
    """Raised from the executor's listener: the isolation's budget ran out (the executor stops its jobs)."""


@dataclass(frozen=True, kw_only=True)
class BatchTraining:
    """Trains a call's targets in the backend's one job and, when that job fails, finds its culprits."""

    task: Task
    settings: TrainSettings
    backend: Backend
    executor: Executor
    store: RunStore
    on_event: Callable[[ExecutorEvent], None]
    budget: float = ISOLATION_BUDGET
    """:data:`ISOLATION_BUDGET` unless a test says otherwise."""
    clock: Callable[[], float] = time.monotonic

    def train(self, legs: list[Leg], batch: RoundFiles | None, allocation: Allocation | None = None) -> None:
        """Train every leg without a training result; nothing happens for a backend that trains each leg alone.

        ``allocation`` goes to the whole batch's job; the parts of a failed batch train unallocated (each
        candidate alone: there is nothing to allocate between)."""
        open_legs = self._open(legs)
        step = (self.backend.batch_step(self.task, open_legs, self.settings, self.store, batch, allocation)
                if open_legs else None)
        if step is None:
            return  # done, or the backend trains each leg in its own train step (the Trainer's pipelines)
        assert batch is not None, "a backend that trains a batch of targets gets a folder for the batch's files"
        failed = self.store.load_batch_failure(batch)
        if failed is None or not {leg.target.key for leg in open_legs} <= set(failed.keys):
            whole = _Part(f"{self.backend.name} round", tuple(open_legs), batch)
            outcome = self._run([whole], {whole.key: step})[whole.key]
            open_legs = self._open(legs)
            if not open_legs:
                return
            ended = outcome if outcome.status in ("timeout", "crashed") else _no_result(outcome)
            failed = BatchFailure(keys=tuple(leg.target.key for leg in open_legs),
                                  failure=job_failure(ended, "candidate"))
            self.store.save_batch_failure(batch, failed)
        self._isolate(open_legs, batch, failed)

    # -- the search -------------------------------------------------------------------------------------
    def _isolate(self, legs: list[Leg], batch: RoundFiles, failed: BatchFailure) -> None:
        """Retrain ``legs`` apart (the baselines together, each candidate alone) and charge each part's failure."""
        baselines = tuple(leg for leg in legs if leg.target.reward_kind != "candidate")
        parts = [_Part(leg.target.key, (leg,), batch.part(leg.target.key)) for leg in legs
                 if leg.target.reward_kind == "candidate"]
        if baselines:
            label = "+".join(leg.target.key for leg in baselines)
            parts.insert(0, _Part(f"{self.backend.name} round: {label}", baselines, batch.part(label)))
        n = len(failed.keys)
        if len(parts) == 1 and len(parts[0].legs) == len(legs) == n:  # nothing to take apart: it failed on its own
            for leg in legs:
                self.store.save_failures(leg.files, (replace(failed.failure, reward_kind=leg.target.reward_kind),))
            return
        deadline = self.clock() + self.budget * self.settings.timeout_s
        outcomes = self._run(parts, {part.key: self._step(part) for part in parts}, deadline)
        # Baselines run no candidate code: if they fail apart too, the program (or the task) is at fault.
        suspect = bool(baselines) and bool(self._open(list(baselines))) and parts[0].key in outcomes
        for part in parts:
            outcome = outcomes.get(part.key)
            for leg in self._open(list(part.legs)):
                kind = leg.target.reward_kind
                if outcome is None:
                    detail = (f"its round's program of {n} arms failed ({failed.failure.detail}), and retraining the "
                              f"arms apart ran out of its budget ({self.budget:g} × {self.settings.timeout_s:g} s) "
                              "before this one finished")
                    self.store.save_failures(leg.files, (replace(failed.failure, detail=detail, reward_kind=kind),))
                    continue
                ended = outcome if outcome.status in ("timeout", "crashed") else _no_result(outcome)
                detail = _blame(ended, part, n, suspect)
                self.store.save_failures(leg.files, (job_failure(replace(ended, detail=detail), kind),))

    # -- jobs ---------------------------------------------------------------------------------------------
    def _step(self, part: _Part) -> JobStep | None:
        return self.backend.batch_step(self.task, list(part.legs), self.settings, self.store, part.files)

    def _run(self, parts: list[_Part], steps: dict[str, JobStep | None], deadline: float | None = None
             ) -> dict[str, StepOutcome]:
        """Run each part's job (one executor call) and charge it to its targets; returns how each ended, leaving
        out those that ``deadline`` stopped or kept from starting."""
        by_key = {part.key: part for part in parts}
        ended: dict[str, StepOutcome] = {}

        def listen(event: ExecutorEvent) -> None:
            part = by_key.get(event.key)
            if event.state == "ended" and event.outcome is not None and part is not None:
                ended[event.key] = event.outcome
                note = self._note(part, event.outcome)
                if note:
                    event = replace(event, outcome=replace(event.outcome, detail=note))
            self.on_event(event)
            if deadline is not None and self.clock() > deadline and len(ended) < len(parts):
                raise _BudgetSpent  # the executor stops what runs; the parts' files say what finished

        pipelines = [Pipeline(key, (step,)) for key, step in steps.items() if step is not None]
        try:
            outcomes = {key: runs[0] for key, runs in self.executor.run(pipelines, listen).items() if runs}
        except _BudgetSpent:
            outcomes = ended
        for key, outcome in outcomes.items():
            self._charge(by_key[key], outcome)
        blamed = next((o for o in outcomes.values() if o.status == "fitness_failed"), None)
        if blamed is not None:
            raise FitnessError(f"the task's fitness function failed in the {self.backend.name} round "
                               f"({blamed.detail}); fix {self.task.fitness_ref} and resume the run")
        return outcomes

    def _charge(self, part: _Part, outcome: StepOutcome) -> None:
        """Charge a part's job to its targets in equal shares (their env-steps their own)."""
        share = len(part.legs)
        for leg in part.legs:
            training = self.store.outcome(leg.files).training
            self.store.add_costs(leg.target.files, (JobCost(
                kind=outcome.kind, rung=None, env_steps=training.job_steps if training else 0,
                cpu_s=round(outcome.cpu_s / share, 3), wall_s=round(outcome.wall_s / share, 3)),))

    def _note(self, part: _Part, outcome: StepOutcome) -> str:
        """The display's note on how a part's program ran (or "")."""
        stats = self.store.load_round_stats(part.files)
        if outcome.status != "ok" or stats is None:
            return ""
        arms = f"{stats.arms} arm{'s' if stats.arms != 1 else ''}"
        return (f"{arms} in one program on {stats.platform}: compiled in {stats.compile_s:.1f} s, "
                f"trained at {stats.steps_per_s:,.0f} env-steps/s")

    def _open(self, legs: list[Leg]) -> list[Leg]:
        """The legs with no training result yet (nor a recorded failure)."""
        return [leg for leg in legs if not self.store.is_finished(leg.files)
                and self.store.outcome(leg.files).training is None]


def _blame(ended: StepOutcome, part: _Part, arms: int, program_suspect: bool) -> str:
    """What a part's failure says about its targets, for the critique and the designer."""
    alone = len(part.legs) == 1
    how = f"{'trained alone' if alone else 'trained apart'} after its round's program of {arms} arms failed"
    if program_suspect:
        return (f"{ended.detail or ended.status} ({how}; the baselines failed apart from every candidate too, so the "
                "program or the task is at fault, not necessarily this reward)")
    what = "kept training from finishing in time" if ended.status == "timeout" else "made training fail"
    return f"{ended.detail or ended.status} ({how}: this reward alone {what})"


def _no_result(outcome: StepOutcome) -> StepOutcome:
    """A job that ended without failing but left a target without its result: a crash as far as the target goes."""
    return replace(outcome, status="crashed", detail=f"the job ended ({outcome.status}) without this arm's result")


def job_failure(outcome: StepOutcome, reward_kind: RewardKind) -> JobFailure:
    """How a target's job died (timeout or crash), as its ``failures.json`` says."""
    status: Literal["timeout", "crashed"] = "timeout" if outcome.status == "timeout" else "crashed"
    # Whatever trained (one target's ``train`` or a batch's program), it is the target's training that died.
    kind: Literal["train", "evaluate", "video"] = ("evaluate" if outcome.kind == "evaluate" else
                                                   "video" if outcome.kind == "video" else "train")
    return JobFailure(kind=kind, status=status, detail=outcome.detail or outcome.status, wall_s=outcome.wall_s,
                      reward_kind=reward_kind)

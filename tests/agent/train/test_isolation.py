"""A batch program that fails finds its culprits: innocent targets keep real results, each culprit its own cause.

Driven with a batch backend and an executor without processes: the "program" of a job fails the way
its worst arm makes it fail (a hanging arm: the job is killed at its timeout; a crashing one: exit 1
with its last error line), and otherwise writes each arm's result, as the jax round's job does.
tests/agent/train/test_jax_isolation.py runs the same on real jax jobs (slow).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from rewardsmith.agent.records.config import BackendName
from rewardsmith.agent.records.train import Allocation
from rewardsmith.agent.rundir.store import RoundFiles, RunStore
from rewardsmith.agent.train.backends import SB3Backend
from rewardsmith.agent.train.executors.base import ExecutorEvent, JobStep, Pipeline, StepOutcome
from rewardsmith.agent.train.isolation import BatchTraining
from rewardsmith.agent.train.pipelines import Trainer
from rewardsmith.agent.train.targets import Leg, TrainSettings, TrainTarget
from rewardsmith.core.atomic import write_json, write_text
from rewardsmith.envs.backends.records import PolicyConfig, TrainingResult, TrainOutputs
from rewardsmith.envs.evaluation import EvalJob, EvaluationResult, FitnessStats, seed_sets
from rewardsmith.envs.tasks import Task, load_task

FITNESS = {"r01c01": 400.0, "r01c02": 300.0, "human": 450.0, "sparse": 30.0}
HANGS, CRASHES = "r01c03", "r01c04"
CRASH_LINE = "exit code 1: ValueError: Error refining shapes. Define JAX_DUMP_IR_TO to dump the module."


@dataclass(frozen=True)
class FakeRound:
    """The spec of a batch job: which arms it trains and where each writes."""

    keys: tuple[str, ...]
    outputs: tuple[TrainOutputs, ...]


class BatchBackend(SB3Backend):
    """Trains every leg of a call in one job, as the jax backend does."""

    name: ClassVar[BackendName] = "jax"

    def batch_step(self, task: Task, legs: list[Leg], settings: TrainSettings, store: RunStore,
                   batch: RoundFiles | None, allocation: Allocation | None = None) -> JobStep | None:
        assert batch is not None
        spec = FakeRound(tuple(leg.target.key for leg in legs), tuple(leg.files.train_outputs() for leg in legs))
        return JobStep(kind="jax_round", spec=spec, spec_file=batch.jax_round("spec"), log_file=batch.jax_round("log"),
                       timeout_s=settings.timeout_s)

    def train_step(self, task: Task, leg: Leg, settings: TrainSettings) -> JobStep | None:
        raise AssertionError("every leg is trained by a batch job")


class RoundExecutor:
    """Runs batch jobs as their worst arm makes them end, and evaluations by :data:`FITNESS`; remembers each batch
    job's arms. ``kill_at``: the n-th batch job (from 1) is interrupted as a Ctrl-C would interrupt the run."""

    def __init__(self, kill_at: int | None = None, broken: bool = False) -> None:
        self.jobs: list[tuple[str, ...]] = []
        self.kill_at = kill_at
        self.broken = broken
        """Every job crashes, whatever it trains (the program or the task is at fault)."""
        self.now = 0.0
        """A clock that each job advances by its wall time."""

    def run(self, pipelines: list[Pipeline], on_event: Callable[[ExecutorEvent], None] | None = None
            ) -> dict[str, list[StepOutcome]]:
        emit = on_event or (lambda _e: None)
        done: dict[str, list[StepOutcome]] = {}
        for pipe in pipelines:
            for step in pipe.steps:
                emit(ExecutorEvent(key=pipe.key, kind=step.kind, state="started"))
                outcome = self._run(step)
                self.now += outcome.wall_s
                emit(ExecutorEvent(key=pipe.key, kind=step.kind, state="ended", outcome=outcome))
                done.setdefault(pipe.key, []).append(outcome)
        return done

    def _run(self, step: JobStep) -> StepOutcome:
        if isinstance(step.spec, EvalJob):
            stats = FitnessStats.of([FITNESS[Path(step.spec.out_file).parent.name.replace("cand_0", "r01c0")]], (1,))
            write_json(Path(step.spec.out_file), EvaluationResult(stats, stats, 10.0, 0.1))
            return StepOutcome(step.kind, "ok", 1.0, cpu_s=1.0)
        spec = step.spec
        assert isinstance(spec, FakeRound)
        self.jobs.append(spec.keys)
        if len(self.jobs) == self.kill_at:
            raise KeyboardInterrupt
        if HANGS in spec.keys:
            return StepOutcome(step.kind, "timeout", step.timeout_s, f"killed after the {step.timeout_s:g} s limit", 3.0)
        if CRASHES in spec.keys or self.broken:
            return StepOutcome(step.kind, "crashed", 2.0, CRASH_LINE, 2.0)
        for key, out in zip(spec.keys, spec.outputs, strict=True):
            write_text(Path(out.policy_file), "weights")
            write_json(Path(out.metrics_file), TrainingResult(
                status="ok", error=None, reward_kind="candidate" if key.startswith("r") else "env", steps_done=4096,
                steps_planned=4096, wall_s=1.0, components=(), checkpoints=(),
                policy=PolicyConfig(use_sde=False, format="jax")))
        return StepOutcome(step.kind, "ok", 5.0, cpu_s=6.0)


def _targets(store: RunStore) -> list[TrainTarget]:
    targets = [TrainTarget(key=f"r01c0{i}", files=store.files(1, i), reward_kind="candidate") for i in (1, 2, 3, 4)]
    return [*targets, TrainTarget(key="human", files=store.baseline_files("human"), reward_kind="env"),
            TrainTarget(key="sparse", files=store.baseline_files("sparse"), reward_kind="sparse")]


def _trainer(store: RunStore, executor: RoundExecutor) -> Trainer:
    selection, heldout = seed_sets(0, 1, 1)
    settings = TrainSettings(steps=4096, seed=0, timeout_s=60.0, call_timeout_s=5.0, selection_seeds=selection,
                             heldout_seeds=heldout)
    return Trainer(task=load_task("cartpole"), settings=settings, backend=BatchBackend(), executor=executor,
                   store=store)


def test_a_failed_round_blames_only_its_culprits_and_the_others_keep_their_fitness(tmp_path: Path) -> None:
    store, executor = RunStore(tmp_path), RoundExecutor()
    outcomes = _trainer(store, executor).train_and_evaluate(_targets(store), batch=store.round_files(1))
    for key, fitness in FITNESS.items():  # the innocent arms and both baselines: trained, evaluated, real fitness
        assert outcomes[key].training is not None and outcomes[key].training.status == "ok", key
        assert outcomes[key].evaluation is not None and outcomes[key].evaluation.selection.mean == fitness
    hang, crash = outcomes[HANGS].training, outcomes[CRASHES].training
    assert hang is not None and hang.status == "timeout" and hang.error is not None
    assert hang.error == ("killed after the 60 s limit (trained alone after its round's program of 6 arms failed: "
                          "this reward alone kept training from finishing in time)")
    assert crash is not None and crash.status == "crashed" and crash.error is not None
    assert crash.error.startswith(CRASH_LINE) and crash.error.endswith("this reward alone made training fail)")
    assert [f.kind for f in store.load_failures(store.files(1, 3))] == ["train"]  # in failures.json, as before
    # One job for the round, then the baselines together and each candidate alone: one wave.
    assert executor.jobs == [("r01c01", "r01c02", "r01c03", "r01c04", "human", "sparse"), ("human", "sparse"),
                             ("r01c01",), ("r01c02",), ("r01c03",), ("r01c04",)]
    failed = store.load_batch_failure(store.round_files(1))
    assert failed is not None and failed.failure.status == "timeout" and len(failed.keys) == 6
    # Each job is charged to the arms it trained: a sixth of the failed round, then its own retraining.
    assert [(c.kind, c.cpu_s) for c in store.load_costs(store.files(1, 1))] == [
        ("jax_round", 0.5), ("jax_round", 6.0), ("evaluate", 1.0)]
    assert [(c.kind, c.cpu_s) for c in store.load_costs(store.baseline_files("human"))][:2] == [
        ("jax_round", 0.5), ("jax_round", 3.0)]


def test_isolation_killed_midway_resumes_with_the_open_parts_only(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    killed = RoundExecutor(kill_at=4)  # the round, the baselines, r01c01 — then the run is killed during r01c02
    with pytest.raises(KeyboardInterrupt):
        _trainer(store, killed).train_and_evaluate(_targets(store), batch=store.round_files(1))
    resumed = RoundExecutor()
    outcomes = _trainer(store, resumed).train_and_evaluate(_targets(store), batch=store.round_files(1))
    # Neither the failed round nor a finished part runs again: only the parts still open.
    assert resumed.jobs == [("r01c02",), ("r01c03",), ("r01c04",)]
    assert all(outcomes[key].evaluation is not None for key in FITNESS)
    assert outcomes[HANGS].training is not None and outcomes[HANGS].training.status == "timeout"
    again = RoundExecutor()
    _trainer(store, again).train_and_evaluate(_targets(store), batch=store.round_files(1))
    assert again.jobs == []  # every target finished: nothing trained twice


def test_a_round_of_one_arm_is_its_own_culprit_without_a_retry(tmp_path: Path) -> None:
    store, executor = RunStore(tmp_path), RoundExecutor()
    target = TrainTarget(key=HANGS, files=store.files(1, 3), reward_kind="candidate")
    outcomes = _trainer(store, executor).train_and_evaluate([target], batch=store.round_files(1))
    assert executor.jobs == [(HANGS,)]
    training = outcomes[HANGS].training
    assert training is not None and training.status == "timeout" and training.error == "killed after the 60 s limit"


def test_isolation_past_its_budget_starts_no_more_parts_and_says_so(tmp_path: Path) -> None:
    store, executor = RunStore(tmp_path), RoundExecutor()
    trainer = _trainer(store, executor)
    legs = [Leg(target=t, files=t.files, steps=4096) for t in _targets(store)]
    # One round timeout of budget: spent when the hanging candidate's job is killed (5 + 5 + 5 + 60 s > 60 s).
    BatchTraining(task=trainer.task, settings=trainer.settings, backend=trainer.backend, executor=executor,
                  store=store, on_event=lambda _e: None, budget=1.0, clock=lambda: executor.now).train(
                      legs, store.round_files(1))
    assert executor.jobs[1:] == [("human", "sparse"), ("r01c01",), ("r01c02",), ("r01c03",)]  # r01c04 never started
    status = {t.key: store.outcome(t.files).training for t in _targets(store)}
    assert all(status[k] is not None and status[k].status == "ok" for k in ("human", "sparse", "r01c01", "r01c02"))
    hang, late = status[HANGS], status[CRASHES]
    assert hang is not None and hang.status == "timeout" and "trained alone" in (hang.error or "")
    assert late is not None and late.status == "timeout"  # the round's own failure, and why it was not isolated
    assert "ran out of its budget (1 × 60 s) before this one finished" in (late.error or ""), late.error


def test_when_the_baselines_fail_apart_too_no_candidate_is_blamed(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    outcomes = _trainer(store, RoundExecutor(broken=True)).train_and_evaluate(_targets(store),
                                                                              batch=store.round_files(1))
    for key in ("r01c01", "r01c02", "human"):
        training = outcomes[key].training
        assert training is not None and training.status == "crashed" and training.error is not None
        assert training.error.endswith("the baselines failed apart from every candidate too, so the program or the "
                                       "task is at fault, not necessarily this reward)"), training.error

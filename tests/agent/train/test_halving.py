"""A round's allocation in rungs (the SB3 backend): who continues, resumed (not restarted) training, costs."""

from __future__ import annotations

from pathlib import Path

import pytest

from rewardsmith.agent.records.train import Allocation, HalvingSchedule
from rewardsmith.agent.rundir.store import RunStore
from rewardsmith.agent.train.allocation import train_in_rungs
from rewardsmith.agent.train.backends import SB3Backend
from rewardsmith.agent.train.executors.base import Executor
from rewardsmith.agent.train.executors.local import LocalExecutor
from rewardsmith.agent.train.pipelines import Trainer
from rewardsmith.agent.train.targets import TrainSettings, TrainTarget
from rewardsmith.core.atomic import write_text
from rewardsmith.envs.evaluation import seed_sets
from rewardsmith.envs.tasks import Task, load_task
from tests.support.executors import FakeExecutor

DATA = Path(__file__).resolve().parents[2] / "data" / "scripted_three"


def _trainer(task: Task, settings: TrainSettings, executor: Executor, store: RunStore) -> Trainer:
    return Trainer(task=task, settings=settings, backend=SB3Backend(), executor=executor, store=store)


def test_the_schedule_ends_rungs_on_whole_rollouts_and_keeps_the_top_fraction() -> None:
    schedule = HalvingSchedule(eta=3, first_rung=0.111)
    assert schedule.budgets(36_864, 2048) == (4096, 12_288, 36_864)
    assert schedule.budgets(8192, 2048) == (4096, 8192)  # 1/9 rounds up to two rollouts: the first says nothing
    assert schedule.budgets(4096, 2048) == (4096,)
    assert [schedule.survivors(n) for n in (12, 4, 2, 1)] == [4, 1, 1, 1]
    with pytest.raises(ValueError, match="at least 2"):
        HalvingSchedule(eta=1, first_rung=0.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        HalvingSchedule(eta=3, first_rung=1.5)


def _round(store: RunStore, k: int, steps: int = 4096) -> tuple[list[TrainTarget], TrainSettings]:
    targets = []
    for index in range(1, k + 1):
        files = store.files(1, index)
        write_text(files.reward, (DATA / f"{(index - 1) % 3 + 1:02d}.py").read_text())
        targets.append(TrainTarget(key=f"r01c{index:02d}", files=files, reward_kind="candidate"))
    selection, heldout = seed_sets(0, 2, 2)
    return targets, TrainSettings(steps=steps, seed=0, timeout_s=240, call_timeout_s=5.0, selection_seeds=selection,
                                  heldout_seeds=heldout)


def test_halving_keeps_the_top_third_per_rung_and_resumes_them_from_the_rung_below(tmp_path: Path) -> None:
    task = load_task("cartpole")  # rollout 2048 steps
    store = RunStore(tmp_path)
    targets, settings = _round(store, 9, steps=36_864)
    targets.append(TrainTarget(key="human", files=store.baseline_files("human"), reward_kind="env"))
    rate = {t.key: float(i) for i, t in enumerate(targets)}  # r01c09 is best, then r01c08, ...
    fake = FakeExecutor(rate)
    halving = Allocation(policy="halving", schedule=HalvingSchedule(eta=3, first_rung=1 / 9))
    outcomes = train_in_rungs(_trainer(task, settings, fake, store), targets, halving, rnd=1)

    record = store.load_allocation(1)
    assert record is not None and record.budgets == (4096, 12_288, 36_864)
    assert [r.continued for r in record.decisions] == [("r01c07", "r01c08", "r01c09"), ("r01c09",)]
    assert len(record.decisions[0].entered) == 9 and record.decisions[1].entered == ("r01c07", "r01c08", "r01c09")
    assert record.planned_steps == 9 * 4096 + 3 * 8192 + 24_576
    resumed = sorted((Path(j.reward_file or "").parent.name, j.steps) for j in fake.train_jobs if j.resume_from)
    assert resumed == [("cand_07", 12_288), ("cand_08", 12_288), ("cand_09", 12_288), ("cand_09", 36_864)]
    assert all(j.resume_from is None for j in fake.train_jobs if j.reward_kind == "env")  # baselines: not halved
    best = outcomes["r01c09"].training
    assert best is not None and (best.steps_done, best.resumed_from_steps) == (36_864, 12_288)
    stop = store.load_early_stop(store.files(1, 8))
    assert stop is not None and (stop.rung, stop.steps_done, stop.cutoff_fitness) == (1, 12_288, 8.0 * 12_288)
    late = outcomes["r01c08"].training
    assert late is not None and (late.steps_done, late.steps_planned) == (12_288, 36_864)  # partial, and says so
    assert store.load_early_stop(store.files(1, 1)) is not None and not store.files(1, 1).metrics.exists()
    compute = store.round_compute(1)
    assert compute.env_steps == 9 * 4096 + 3 * 8192 + 24_576  # what each rung added, nothing redone
    assert compute.jobs == 2 * (9 + 3 + 1)

    fake.train_jobs.clear()
    again = train_in_rungs(_trainer(task, settings, fake, store), targets, halving, rnd=1)
    assert again == outcomes and fake.train_jobs == []  # resume: every rung's results are on disk
    assert store.round_compute(1) == compute


@pytest.mark.slow
def test_a_halved_round_continues_the_best_from_its_checkpoint_and_stops_the_rest(tmp_path: Path) -> None:
    """Real SB3 jobs (~100 s on the loaded 2-core machine)."""
    task = load_task("cartpole")
    store = RunStore(tmp_path)
    targets, settings = _round(store, 3, steps=8192)
    trainer = _trainer(task, settings, LocalExecutor(workers=2, poll_s=0.1), store)
    halving = Allocation(policy="halving", schedule=HalvingSchedule(eta=3, first_rung=0.5))
    outcomes = train_in_rungs(trainer, targets, halving, rnd=1)

    record = store.load_allocation(1)
    assert record is not None and record.budgets == (4096, 8192)
    (rung,) = record.decisions
    assert set(rung.entered) == {"r01c01", "r01c02", "r01c03"} and len(rung.continued) == 1
    best = rung.continued[0]
    assert rung.fitness[best] == max(f for f in rung.fitness.values() if f is not None)
    for target in targets:
        training = outcomes[target.key].training
        assert training is not None and training.trained
        if target.key == best:  # resumed from the rung's policy and Adam state, to the full budget
            assert (training.resumed_from_steps, training.steps_done, training.steps_planned) == (4096, 8192, 8192)
            assert store.load_early_stop(target.files) is None and target.files.fitness.is_file()
        else:  # stopped: partial results kept, never reported as fully trained
            stop = store.load_early_stop(target.files)
            assert stop is not None and (stop.rung, stop.steps_done, stop.steps_planned) == (0, 4096, 8192)
            assert (training.steps_done, training.steps_planned) == (4096, 8192)
            assert not target.files.metrics.exists() and "Stopped early" in stop.text
            assert store.load_result_by_id(target.key) is None  # no candidate.json: loaded through the rung below
            assert store.stopped_outcome(target.files) == outcomes[target.key]
    compute = store.round_compute(1)
    assert compute.env_steps == 3 * 4096 + 4096  # the continued candidate did not redo its first 4096 steps
    assert compute.jobs == 8 and compute.cpu_s > 0

    again = train_in_rungs(trainer, targets, halving, rnd=1)
    assert again == outcomes and store.round_compute(1) == compute  # finished work is not redone

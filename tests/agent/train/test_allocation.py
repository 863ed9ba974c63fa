"""A round allocated inside a batch backend's program: the job's decisions become the round's record, each stopped
candidate is marked (partial, evaluated, not filmed, never retrained), and a resumed round redoes nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Literal

from rewardsmith.agent.records.config import BackendName
from rewardsmith.agent.records.train import Allocation, AllocationRecord, Decision, HalvingSchedule
from rewardsmith.agent.rundir.store import RoundFiles, RunStore
from rewardsmith.agent.train.allocation import train_round
from rewardsmith.agent.train.backends import SB3Backend
from rewardsmith.agent.train.executors.base import ExecutorEvent, JobStep, Pipeline, StepOutcome
from rewardsmith.agent.train.pipelines import Trainer
from rewardsmith.agent.train.targets import Leg, TrainSettings, TrainTarget
from rewardsmith.core.atomic import write_json, write_text
from rewardsmith.envs.backends.records import Checkpoint, PolicyConfig, TrainingResult
from rewardsmith.envs.evaluation import seed_sets
from rewardsmith.envs.tasks import Task, load_task
from tests.support.executors import FakeExecutor

BANDIT = Allocation(policy="bandit", schedule=HalvingSchedule(eta=4, first_rung=0.25))
STEPS = 8192


class ProgramBackend(SB3Backend):
    """A backend that allocates inside its one job, as the jax backend does: its step writes what that job writes."""

    name: ClassVar[BackendName] = "sb3"
    allocation_mode: ClassVar[Literal["rungs", "program"] | None] = "program"
    calls: ClassVar[list[list[str]]] = []

    def batch_step(self, task: Task, legs: list[Leg], settings: TrainSettings, store: RunStore,
                   batch: RoundFiles | None, allocation: Allocation | None = None) -> JobStep | None:
        assert batch is not None and allocation == BANDIT
        self.calls.append([leg.target.key for leg in legs])
        stopped = {"r01c01": 2048, "r01c02": 2048}
        for leg in legs:
            steps = stopped.get(leg.target.key, settings.steps)
            out = leg.files.train_outputs()
            write_text(Path(out.policy_file), "weights")
            write_json(Path(out.metrics_file), TrainingResult(
                status="ok", error=None, reward_kind=leg.target.reward_kind, steps_done=steps,
                steps_planned=settings.steps, wall_s=1.0, components=(),
                checkpoints=tuple(Checkpoint(timesteps=s, episodes=2, episode_length=9.0, fitness=1.0, env_return=None,
                                             reward_return=None) for s in range(2048, steps + 1, 2048)),
                policy=PolicyConfig(use_sde=False, format="jax")))
        decision = Decision(steps=2048, rung=0, entered=("r01c01", "r01c02", "r01c03"),
                            fitness={"r01c01": 1.0, "r01c02": None, "r01c03": 5.0}, continued=("r01c03",),
                            stopped=("r01c01", "r01c02"), reasons={"r01c01": "its optimistic fitness stayed below"})
        write_json(batch.jax_round("allocation"), AllocationRecord(allocation=allocation, budgets=(2048, 8192),
                                                                   planned_steps=4 * 2048 + 6144, decisions=(decision,)))
        return JobStep(kind="jax_round", spec={}, spec_file=batch.dir / "job.json", log_file=batch.dir / "job.log",
                       timeout_s=60.0)


class Recording(FakeExecutor):
    """Keeps the kinds of every pipeline's steps."""

    def __init__(self, rate: dict[str, float]) -> None:
        super().__init__(rate)
        self.kinds: dict[str, list[str]] = {}

    def run(self, pipelines: list[Pipeline], on_event: Callable[[ExecutorEvent], None] | None = None
            ) -> dict[str, list[StepOutcome]]:
        for pipe in pipelines:
            self.kinds.setdefault(pipe.key, []).extend(step.kind for step in pipe.steps)
        return super().run(pipelines, on_event)


def test_a_round_allocated_in_the_program_marks_its_stopped_candidates_and_resumes_without_redoing(
        tmp_path: Path) -> None:
    task, store = load_task("cartpole"), RunStore(tmp_path)
    selection, heldout = seed_sets(0, 2, 2)
    settings = TrainSettings(steps=STEPS, seed=0, timeout_s=60, call_timeout_s=5.0, selection_seeds=selection,
                             heldout_seeds=heldout)
    targets = [TrainTarget(key=f"r01c0{i}", files=store.files(1, i), reward_kind="candidate", video=True)
               for i in (1, 2, 3)]
    targets.append(TrainTarget(key="human", files=store.baseline_files("human"), reward_kind="env", video=True))
    fake = Recording({"r01c01": 1.0, "r01c02": 9.0, "r01c03": 2.0, "human": 0.5})
    trainer = Trainer(task=task, settings=settings, backend=ProgramBackend(), executor=fake, store=store)
    outcomes = train_round(trainer, targets, rnd=1, allocation=BANDIT)

    record = store.load_allocation(1)
    assert record is not None and record.decisions[0].stopped == ("r01c01", "r01c02")
    for key in ("r01c01", "r01c02"):
        stop = outcomes[key].early_stop
        assert stop is not None and (stop.rung, stop.steps_done, stop.steps_planned) == (0, 2048, STEPS)
        assert not stop.in_rung_folder and stop.policy == "bandit" and stop.cutoff_fitness == 5.0
        assert "Stopped early by the bandit after rung 1, 2,048 of 8,192 steps" in stop.text
        training = outcomes[key].training
        assert training is not None and training.steps_done == 2048  # its own files: the partial training
        assert outcomes[key].evaluation is not None and fake.kinds[key] == ["evaluate"]  # evaluated, not filmed
    first = outcomes["r01c01"].early_stop
    assert first is not None and "its optimistic fitness stayed below" in first.text
    assert outcomes["r01c03"].early_stop is None and fake.kinds["r01c03"] == ["evaluate", "video"]
    assert fake.kinds["human"] == ["evaluate", "video"]

    again = train_round(trainer, targets, rnd=1, allocation=BANDIT)
    assert again == outcomes and ProgramBackend.calls == [["r01c01", "r01c02", "r01c03", "human"]]

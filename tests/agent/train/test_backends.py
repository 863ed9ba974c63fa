"""The training-backend seam: the registry, what the Trainer asks of a backend, and that nobody else asks its name."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import ClassVar, Literal, get_args

import pytest

from rewardsmith.agent.records.config import BackendName, RunConfig
from rewardsmith.agent.records.train import Allocation
from rewardsmith.agent.rundir.store import RoundFiles, RunStore
from rewardsmith.agent.train.backends import BACKENDS, CodeCheck, SB3Backend, make_backend, resolve_backend
from rewardsmith.agent.train.executors.base import JobStep
from rewardsmith.agent.train.pipelines import Trainer
from rewardsmith.agent.train.targets import Leg, TrainSettings, TrainTarget
from rewardsmith.core.atomic import write_json, write_text
from rewardsmith.core.errors import ConfigError
from rewardsmith.envs.backends.records import PolicyConfig, TrainingResult
from rewardsmith.envs.evaluation import seed_sets
from rewardsmith.envs.tasks import Task, load_task
from rewardsmith.sandboxes.validate import ValidationReport
from tests.support.executors import FakeExecutor

ROOT = Path(__file__).resolve().parents[3]
BACKEND_CODE = (ROOT / "agent" / "train" / "backends", ROOT / "envs" / "backends")


def test_every_backend_name_has_one_class_and_every_class_its_name() -> None:
    assert set(BACKENDS) == set(get_args(BackendName))
    assert all(cls.name == name for name, cls in BACKENDS.items())
    assert isinstance(make_backend("sb3"), SB3Backend)
    with pytest.raises(ConfigError, match="unknown backend 'brax'; choose one of: sb3, jax"):
        make_backend("brax")


def test_no_module_outside_the_backends_compares_a_backend_name() -> None:
    """The backend is an object: code outside the backends asks it, never its name (issue 20)."""
    names = set(get_args(BackendName))
    offenders = []
    for top in ("core", "sandboxes", "envs", "agent"):
        for path in (ROOT / top).rglob("*.py"):
            if any(path.is_relative_to(d) for d in BACKEND_CODE):
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Compare):
                    consts = [c.value for c in (node.left, *node.comparators) if isinstance(c, ast.Constant)]
                    consts += [e.value for c in node.comparators if isinstance(c, ast.Tuple | ast.List | ast.Set)
                               for e in c.elts if isinstance(e, ast.Constant)]
                    if names & set(consts):
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_a_backend_without_allocation_refuses_it_in_one_line() -> None:
    class NoAllocation(SB3Backend):
        allocation_mode: ClassVar[Literal["rungs", "program"] | None] = None

    task = load_task("cartpole")
    NoAllocation().check(task, RunConfig(task="cartpole"))  # no --allocation: fine
    NoAllocation().check(task, RunConfig(task="cartpole", allocation="none", halving=3))
    for config in (RunConfig(task="cartpole", halving=3), RunConfig(task="cartpole", allocation="bandit")):
        with pytest.raises(ConfigError, match="--allocation needs a backend that trains a round in segments"):
            NoAllocation().check(task, config)
    SB3Backend().check(task, RunConfig(task="cartpole", halving=3))


def test_resolve_names_the_backend_it_picked_and_why() -> None:
    config, backend, line = resolve_backend(load_task("cartpole"), RunConfig(task="cartpole"))
    assert (config.backend, backend.name, line) == ("sb3", "sb3", "backend: sb3 (stable-baselines3 PPO, one process "
                                                                   "per candidate)")


class BatchBackend(SB3Backend):
    """A third backend as a newcomer would add one: every leg of a call in one job, each leg's results written by it."""

    name: ClassVar[BackendName] = "sb3"
    calls: ClassVar[list[list[str]]] = []

    def batch_step(self, task: Task, legs: list[Leg], settings: TrainSettings, store: RunStore,
                   batch: RoundFiles | None, allocation: Allocation | None = None) -> JobStep | None:
        assert batch is not None
        self.calls.append([leg.target.key for leg in legs])
        for leg in legs:  # what the batch job would write (the fake executor runs nothing)
            out = leg.files.train_outputs()
            write_text(Path(out.policy_file), "weights")
            write_json(Path(out.metrics_file), TrainingResult(
                status="ok", error=None, reward_kind=leg.target.reward_kind, steps_done=leg.steps,
                steps_planned=leg.steps, wall_s=1.0, components=(), checkpoints=(),
                policy=PolicyConfig(use_sde=False, format="jax")))
        return JobStep(kind="jax_round", spec={}, spec_file=batch.dir / "job.json", log_file=batch.dir / "job.log",
                       timeout_s=60.0)

    def train_step(self, task: Task, leg: Leg, settings: TrainSettings) -> JobStep | None:
        raise AssertionError("every leg was trained by the batch job")

    def validate(self, check: CodeCheck, session: object | None = None) -> ValidationReport:
        raise AssertionError("not validated here")


def test_the_trainer_runs_a_batch_backend_once_then_evaluates_each_target(tmp_path: Path) -> None:
    task, store = load_task("cartpole"), RunStore(tmp_path)
    selection, heldout = seed_sets(0, 2, 2)
    settings = TrainSettings(steps=4096, seed=0, timeout_s=60, call_timeout_s=5.0, selection_seeds=selection,
                             heldout_seeds=heldout)
    targets = [TrainTarget(key=f"r01c0{i}", files=store.files(1, i), reward_kind="candidate") for i in (1, 2)]
    targets.append(TrainTarget(key="human", files=store.baseline_files("human"), reward_kind="env"))
    fake = FakeExecutor({"r01c01": 1.0, "r01c02": 2.0, "human": 0.5})
    trainer = Trainer(task=task, settings=settings, backend=BatchBackend(), executor=fake, store=store)
    outcomes = trainer.train_and_evaluate(targets, batch=store.round_files(1))
    assert BatchBackend.calls == [["r01c01", "r01c02", "human"]] and fake.train_jobs == []
    assert all(outcomes[t.key].evaluation is not None for t in targets)
    # one job trained all three: each is charged a third of it, then its own evaluation
    costs = store.load_costs(targets[0].files)
    assert [(c.kind, c.cpu_s) for c in costs] == [("jax_round", round(2.0 / 3, 3)), ("evaluate", 2.0)]
    again = trainer.train_and_evaluate(targets, batch=store.round_files(1))
    assert again == outcomes and BatchBackend.calls == [["r01c01", "r01c02", "human"]]  # nothing trained twice


def test_the_jax_backend_refuses_a_task_that_reads_its_state_through_its_own_adapter(tmp_path: Path) -> None:
    """The jax environments compute the built-in adapters' fields: a user's adapter would train on other numbers."""
    pytest.importorskip("jax")
    from rewardsmith.agent.train.backends import JaxBackend

    (tmp_path / "speed.py").write_text(
        "import numpy as np\nfrom rewardsmith.core.state import ActionSpec, StateField, StateSpec\n"
        "from rewardsmith.envs.adapters import StateAdapter\n\n\nclass Speed(StateAdapter):\n"
        "    spec = StateSpec(fields=(StateField(name='cart_speed', shape=(), unit='m/s', doc='|v|'),),\n"
        "                     action=ActionSpec(1, '0 left, 1 right', 0.0, 1.0))\n\n"
        "    def read(self, env, obs):\n        return np.array([abs(float(obs[1]))])\n")
    (tmp_path / "speed.toml").write_text('name = "speed"\nenv = "CartPole-v1"\nadapter = "speed.py:Speed"\n'
                                         'description = "Keep the cart slow."\nfitness = "balance_steps"\n'
                                         '[train]\nsteps = 4096\n')
    task = load_task(str(tmp_path / "speed.toml"))
    with pytest.raises(ConfigError, match=r"--backend jax: the task reads its state through its own adapter"):
        JaxBackend().check(task, RunConfig(task=str(task.source), backend="jax"))
    _config, backend, line = resolve_backend(task, RunConfig(task=str(task.source), backend="auto"))
    assert backend.name == "sb3" and "its own adapter" in line


def test_a_run_trains_at_the_tasks_budget_on_its_resolved_backend() -> None:
    hopper = load_task("hopper")  # [train.backend_steps] jax = 1,001,472; 200,000 elsewhere
    for asked, steps in (("sb3", 200_000), ("jax", 1_001_472)):
        cfg, _, _ = resolve_backend(hopper, RunConfig(task="hopper", backend=asked))  # type: ignore[arg-type]
        assert TrainSettings.for_run(hopper, cfg).steps == steps, asked
    assert TrainSettings.for_run(hopper, RunConfig(task="hopper", backend="jax", steps=4096)).steps == 4096

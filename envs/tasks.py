"""Tasks: what a user asks for (description, environment, fitness, budget), loaded from TOML task files.

Built-in tasks live in ``envs/tasks/*.toml`` and use exactly the format a user writes for their own
task (DESIGN.md, "Task file"). A task is referred to by its built-in name or by a path to a file.
"""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, field_validator

from core.errors import TaskError
from envs.adapters import StateAdapter
from envs.adapters.classic import CartPoleAdapter, MountainCarContinuousAdapter, PendulumAdapter
from envs.adapters.mujoco import MUJOCO_ADAPTERS
from envs.fitness import FitnessFn, load_fitness

BUILTIN_DIR = Path(__file__).parent / "tasks"

ADAPTERS: dict[str, type[StateAdapter]] = {
    a.env_id: a for a in (CartPoleAdapter, PendulumAdapter, MountainCarContinuousAdapter)
}
ADAPTERS.update({a.env_id: a for a in MUJOCO_ADAPTERS})

PpoValue = int | float | bool | str | dict[str, Any]
PPO_SETTINGS = frozenset({
    "learning_rate", "n_steps", "batch_size", "n_epochs", "gamma", "gae_lambda", "clip_range", "clip_range_vf",
    "normalize_advantage", "ent_coef", "vf_coef", "max_grad_norm", "use_sde", "sde_sample_freq", "target_kl",
    "policy_kwargs",
})


class _TrainModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    steps: PositiveInt = Field(description="environment steps of PPO training per candidate")
    n_envs: PositiveInt = 8
    timeout_s: PositiveInt = 1800
    ppo: dict[str, PpoValue] = Field(default_factory=dict)

    @field_validator("ppo")
    @classmethod
    def _known_ppo_settings(cls, value: dict[str, PpoValue]) -> dict[str, PpoValue]:
        unknown = sorted(set(value) - PPO_SETTINGS)
        if unknown:
            raise ValueError(f"unknown PPO setting {unknown[0]!r}; valid: {', '.join(sorted(PPO_SETTINGS))}")
        return value


class _EvalModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    selection_episodes: PositiveInt = 5
    heldout_episodes: PositiveInt = 10


class _TaskModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    env: str
    description: str = Field(min_length=1)
    fitness: str
    adapter: str | None = None
    env_kwargs: dict[str, Any] = Field(default_factory=dict)
    train: _TrainModel
    eval: _EvalModel = Field(default_factory=_EvalModel)


@dataclass(frozen=True)
class TrainConfig:
    """Training budget and PPO settings, identical for every reward trained on the task."""

    steps: int
    n_envs: int
    timeout_s: int
    ppo: dict[str, PpoValue] = field(default_factory=dict)


@dataclass(frozen=True)
class EvalConfig:
    """How many episodes are used to select candidates and to report held-out fitness."""

    selection_episodes: int
    heldout_episodes: int


@dataclass(frozen=True)
class Task:
    """A loaded, validated task. ``source`` is the TOML file; child processes reload from it."""

    name: str
    env_id: str
    description: str
    fitness_ref: str
    adapter_ref: str | None
    env_kwargs: dict[str, Any]
    train: TrainConfig
    eval: EvalConfig
    source: Path

    @cached_property
    def adapter(self) -> StateAdapter:
        return _load_adapter(self)

    @cached_property
    def fitness(self) -> FitnessFn:
        return load_fitness(self.fitness_ref, self.source.parent)

    def make_env(self, render_mode: str | None = None) -> Any:
        return self.adapter.make_env(render_mode=render_mode, **self.env_kwargs)


def builtin_task_files() -> dict[str, Path]:
    return {p.stem: p for p in sorted(BUILTIN_DIR.glob("*.toml"))}


def load_task(ref: str | Path) -> Task:
    """Load a built-in task by name or a task file by path; every problem is one-line :class:`TaskError`."""
    path = Path(ref)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise TaskError(f"task file {path} does not exist")
        return load_task_file(path)
    builtins = builtin_task_files()
    if str(ref) not in builtins:
        raise TaskError(
            f"unknown task {str(ref)!r}; built-in tasks: {', '.join(builtins)} (or give a path to a .toml task file)"
        )
    return load_task_file(builtins[str(ref)])


def load_task_file(path: Path) -> Task:
    path = path.resolve()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise TaskError(f"{path}: not valid TOML: {exc}") from None
    try:
        model = _TaskModel.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise TaskError(f"{path}: field {where!r}: {err['msg']} (got {err.get('input')!r})") from None
    task = Task(
        name=model.name,
        env_id=model.env,
        description=model.description.strip(),
        fitness_ref=model.fitness,
        adapter_ref=model.adapter,
        env_kwargs=dict(model.env_kwargs),
        train=TrainConfig(model.train.steps, model.train.n_envs, model.train.timeout_s, dict(model.train.ppo)),
        eval=EvalConfig(model.eval.selection_episodes, model.eval.heldout_episodes),
        source=path,
    )
    task.adapter  # noqa: B018 - resolve now so a bad env/adapter fails at load time, with the file named
    try:
        task.fitness  # noqa: B018
    except TaskError as exc:
        raise type(exc)(f"{path}: field 'fitness': {exc}") from None
    return task


def _load_adapter(task: Task) -> StateAdapter:
    if task.adapter_ref is None:
        if task.env_id not in ADAPTERS:
            raise TaskError(
                f"{task.source}: field 'env': no built-in state adapter for {task.env_id!r}; built-in: "
                f"{', '.join(sorted(ADAPTERS))} (or set adapter = 'file.py:ClassName')"
            )
        return ADAPTERS[task.env_id]()
    if ":" not in task.adapter_ref:
        raise TaskError(f"{task.source}: field 'adapter': expected 'file.py:ClassName', got {task.adapter_ref!r}")
    file_part, cls_name = task.adapter_ref.rsplit(":", 1)
    file = (task.source.parent / file_part).resolve()
    if not file.is_file():
        raise TaskError(f"{task.source}: field 'adapter': file {file} does not exist")
    mod_name = f"rewardsmith_user_adapter_{abs(hash(str(file)))}"
    spec = importlib.util.spec_from_file_location(mod_name, file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    spec.loader.exec_module(module)
    cls = getattr(module, cls_name, None)
    if not (isinstance(cls, type) and issubclass(cls, StateAdapter)):
        raise TaskError(f"{task.source}: field 'adapter': {cls_name!r} in {file} is not a StateAdapter subclass")
    adapter = cls()
    adapter.env_id = task.env_id
    return adapter

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

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, StrictInt, ValidationError, model_validator

from rewardsmith.core.errors import TaskError
from rewardsmith.envs.adapters import StateAdapter
from rewardsmith.envs.adapters.classic import CartPoleAdapter, MountainCarContinuousAdapter, PendulumAdapter
from rewardsmith.envs.adapters.mujoco import MUJOCO_ADAPTERS
from rewardsmith.envs.fitness import FitnessFn, check_fitness_ref, load_fitness

BUILTIN_DIR = Path(__file__).parent / "tasks"

ADAPTERS: dict[str, type[StateAdapter]] = {
    a.env_id: a for a in (CartPoleAdapter, PendulumAdapter, MountainCarContinuousAdapter)
}
ADAPTERS.update({a.env_id: a for a in MUJOCO_ADAPTERS})



class PpoSettings(BaseModel):
    """The PPO hyper-parameters a task file may set (``[train] ppo = {...}``); defaults are SB3's own.

    Checked at load: types are exact (TOML ``256.0`` is not an ``n_steps``), values in range, unknown
    names refused with the valid ones listed, and ``batch_size`` must divide ``n_steps × n_envs``
    (checked by the ``[train]`` table, which knows ``n_envs``).
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    learning_rate: float = Field(default=3e-4, gt=0, description="Adam step size")
    n_steps: int = Field(default=2048, gt=0, description="environment steps per env between PPO updates")
    batch_size: int = Field(default=64, gt=0, description="minibatch size; divides n_steps × n_envs")
    n_epochs: int = Field(default=10, gt=0, description="passes over each rollout per update")
    gamma: float = Field(default=0.99, gt=0, le=1, description="discount factor")
    gae_lambda: float = Field(default=0.95, ge=0, le=1, description="GAE bias/variance trade-off")
    clip_range: float = Field(default=0.2, gt=0, description="PPO's policy clipping parameter")
    clip_range_vf: float | None = Field(default=None, gt=0, description="value-function clipping; None = no clipping")
    normalize_advantage: bool = Field(default=True, description="normalise advantages per minibatch")
    ent_coef: float = Field(default=0.0, ge=0, description="entropy bonus weight")
    vf_coef: float = Field(default=0.5, ge=0, description="value-loss weight")
    max_grad_norm: float = Field(default=0.5, gt=0, description="gradient clipping norm")
    use_sde: bool = Field(default=False, description="state-dependent exploration (gSDE) instead of Gaussian noise")
    sde_sample_freq: int = Field(default=-1, ge=-1, description="resample the gSDE noise every N steps; -1 = per rollout")
    target_kl: float | None = Field(default=None, gt=0, description="stop an update early past this KL; None = never")
    net_arch: tuple[StrictInt, ...] | None = Field(
        default=None, strict=False, description="hidden layer sizes of the policy and value networks; None = SB3's (64, 64)")

    @model_validator(mode="before")
    @classmethod
    def _known_names(cls, value: Any) -> Any:
        if isinstance(value, dict):
            unknown = sorted(set(value) - set(cls.model_fields))
            if unknown:
                raise ValueError(f"unknown PPO setting {unknown[0]!r}; valid: {', '.join(sorted(cls.model_fields))}")
        return value

    @model_validator(mode="after")
    def _layers_positive(self) -> PpoSettings:
        if self.net_arch is not None and (not self.net_arch or min(self.net_arch) <= 0):
            raise ValueError(f"net_arch must list positive layer sizes, got {list(self.net_arch)}")
        return self

    def sb3_kwargs(self) -> dict[str, object]:
        """Keyword arguments for ``stable_baselines3.PPO`` (all but the architecture: see :meth:`policy_kwargs`)."""
        return self.model_dump(exclude={"net_arch"})

    def policy_kwargs(self) -> dict[str, object]:
        """``policy_kwargs`` for SB3's ``MlpPolicy``: empty unless ``net_arch`` is set (training and evaluation agree)."""
        return {} if self.net_arch is None else {"net_arch": list(self.net_arch)}


class _TrainModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    steps: PositiveInt = Field(description="environment steps of PPO training per candidate")
    n_envs: PositiveInt = 8
    timeout_s: PositiveInt = 1800
    ppo: PpoSettings = Field(default_factory=PpoSettings, strict=False)

    @model_validator(mode="after")
    def _batches_fit_the_rollout(self) -> _TrainModel:
        rollout = self.ppo.n_steps * self.n_envs
        if rollout % self.ppo.batch_size:
            raise ValueError(f"ppo.batch_size {self.ppo.batch_size} must divide n_steps × n_envs = {rollout} "
                             f"({self.ppo.n_steps} × {self.n_envs}), so that every minibatch is full")
        if self.ppo.normalize_advantage and self.ppo.batch_size < 2:
            raise ValueError("ppo.batch_size must be at least 2 while normalize_advantage is on")
        return self


class _EvalModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    selection_episodes: PositiveInt = 5
    heldout_episodes: PositiveInt = 10


class _TaskModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
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
    ppo: PpoSettings = field(default_factory=PpoSettings)


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
    """Load and check one task file. The fitness function is only located here, not imported: it is user
    code that may hang, so :func:`envs.fitness.check_fitness_file` imports and tries it in a child process."""
    path = path.resolve()
    try:
        raw = tomllib.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise TaskError(f"{path}: cannot read the task file ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise TaskError(f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
                        "save the task file as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise TaskError(f"{path}: not valid TOML: {exc}") from None
    try:
        model = _TaskModel.model_validate(raw)
    except ValidationError as exc:
        raise TaskError(f"{path}: {_first_error(exc)}") from None
    task = Task(
        name=model.name,
        env_id=model.env,
        description=model.description.strip(),
        fitness_ref=model.fitness,
        adapter_ref=model.adapter,
        env_kwargs=dict(model.env_kwargs),
        train=TrainConfig(model.train.steps, model.train.n_envs, model.train.timeout_s, model.train.ppo),
        eval=EvalConfig(model.eval.selection_episodes, model.eval.heldout_episodes),
        source=path,
    )
    task.adapter  # noqa: B018 - resolve now so a bad env/adapter fails at load time, with the file named
    try:
        check_fitness_ref(task.fitness_ref, path.parent)
    except TaskError as exc:
        raise type(exc)(f"{path}: field 'fitness': {exc}") from None
    return task


def _first_error(exc: ValidationError) -> str:
    """The first validation error as ``field 'train.ppo.n_steps': <what> (got <value>)``, one line."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "(top level)"
    msg = str(err["msg"]).removeprefix("Value error, ")
    got = f" (got {err['input']!r})" if err["type"] != "value_error" else ""
    return " ".join(f"field {where!r}: {msg}{got}".split())


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
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # user code: any error at import is the task file's problem, in one line
        sys.modules.pop(mod_name, None)
        raise TaskError(f"{task.source}: field 'adapter': importing {file} raised {_one_line(exc)}") from None
    cls = getattr(module, cls_name, None)
    if not (isinstance(cls, type) and issubclass(cls, StateAdapter)):
        raise TaskError(f"{task.source}: field 'adapter': {cls_name!r} in {file} is not a StateAdapter subclass")
    try:
        adapter = cls()
    except Exception as exc:
        raise TaskError(f"{task.source}: field 'adapter': {cls_name}() raised {_one_line(exc)}") from None
    adapter.env_id = task.env_id
    return adapter


def _one_line(exc: BaseException) -> str:
    where = f" (line {exc.lineno})" if isinstance(exc, SyntaxError) and exc.lineno else ""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}{where}: {text[:300]}" if text else f"{type(exc).__name__}{where}"

"""Tasks: what a user asks for (description, environment, fitness, budget), loaded from TOML task files.

Built-in tasks live in ``envs/tasks/*.toml`` and use exactly the format a user writes for their own
task (DESIGN.md, "Task file"). A task is referred to by its built-in name or by a path to a file.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, StrictInt, ValidationError, model_validator

from rewardsmith.core.backend_names import BackendName
from rewardsmith.core.errors import TaskError
from rewardsmith.envs.adapters import StateAdapter, load_user_adapter
from rewardsmith.envs.adapters.classic import CartPoleAdapter, MountainCarContinuousAdapter, PendulumAdapter
from rewardsmith.envs.adapters.model import ModelAdapter, ModelTask, PhysicsTable, StateTable, resolve_model
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
    backend_steps: dict[BackendName, PositiveInt] = Field(
        default_factory=dict, strict=False,
        description="a backend's own budget where it differs from steps (e.g. jax = 1000000: a faster backend "
                    "trains to where the rewards separate)")
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
    env: str | None = None
    model: str | None = Field(default=None, min_length=1)
    description: str = Field(min_length=1)
    fitness: str
    adapter: str | None = None
    env_kwargs: dict[str, Any] = Field(default_factory=dict)
    physics: PhysicsTable | None = Field(default=None, strict=False)
    state: StateTable | None = Field(default=None, strict=False)
    train: _TrainModel
    eval: _EvalModel = Field(default_factory=_EvalModel)

    @model_validator(mode="after")
    def _env_or_model(self) -> _TaskModel:
        if (self.env is None) == (self.model is None):
            raise ValueError("name either env = 'Gymnasium id' or model = 'robot.xml' (a MuJoCo model), not "
                             + ("both" if self.env is not None else "neither"))
        if self.model is not None and (self.adapter is not None or self.env_kwargs):
            raise ValueError("adapter and env_kwargs are for env = ...; a task on a model sets [physics] and [state]")
        if self.env is not None and (self.physics is not None or self.state is not None):
            raise ValueError("[physics] and [state] are for a task on a model (model = 'robot.xml'), not env = ...")
        return self


@dataclass(frozen=True)
class TrainConfig:
    """Training budget and PPO settings, identical for every reward trained on the task."""

    steps: int
    n_envs: int
    timeout_s: int
    ppo: PpoSettings = field(default_factory=PpoSettings)
    backend_steps: tuple[tuple[str, int], ...] = ()
    """A backend's own budget (``[train.backend_steps]``) where it differs from ``steps``, as (name, steps) pairs
    (a tuple: the settings stay hashable)."""

    def steps_on(self, backend: str) -> int:
        """The task's budget on ``backend`` (a resolved name, not ``auto``): its own line, else ``steps``."""
        return dict(self.backend_steps).get(backend, self.steps)

    def budgets(self) -> str:
        """``200,000 steps`` or ``200,000 steps (jax: 1,000,000)``, for listings."""
        own = ", ".join(f"{b}: {n:,}" for b, n in sorted(self.backend_steps))
        return f"{self.steps:,} steps" + (f" ({own})" if own else "")


@dataclass(frozen=True)
class EvalConfig:
    """How many episodes are used to select candidates and to report held-out fitness."""

    selection_episodes: int
    heldout_episodes: int


@dataclass(frozen=True)
class TrainOrigin:
    """Where a task's ``[train]`` settings come from.

    A task file on a built-in body (the same Gymnasium id as a built-in task) starts from that task's
    tuned ``[train]`` table (e.g. the pendulum's gSDE block) and overrides it key by key, ``ppo`` keys
    included; otherwise the file's own table stands, with SB3's PPO defaults for what it leaves out.
    """

    body: str | None = None
    """The built-in task whose ``[train]`` table the file inherits; None: the file's own (a built-in task, or a
    body no built-in task uses)."""
    overrides: tuple[str, ...] = ()
    """The ``[train]`` keys the file sets to other values than the inherited ones (``steps``, ``ppo.learning_rate``)."""

    def describe(self) -> str:
        """One line for the run's header, e.g. ``the built-in pendulum task's tuned settings; this file sets: steps``."""
        if self.body is None:
            return "the task file's own [train] settings"
        own = f"; this file sets: {', '.join(self.overrides)}" if self.overrides else ""
        return f"the built-in {self.body} task's tuned [train] settings ({self.body}.toml){own}"


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
    train_origin: TrainOrigin = field(default_factory=TrainOrigin)
    """Whether ``train`` is the file's own or inherited from the built-in task on the same body."""
    model: ModelTask | None = None
    """The MuJoCo model the task is on (``model = ...``), or None for a Gymnasium id (``env = ...``)."""

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
    builtins = builtin_task_files()
    # A built-in name stays the built-in task when a folder of that name is here (a run's --out, say).
    if path.suffix == ".toml" or path.is_file() or (path.exists() and str(ref) not in builtins):
        if not path.is_file():
            raise TaskError(f"task file {path} is not a file" if path.exists() else f"task file {path} does not exist")
        return load_task_file(path)
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
    raw, origin = _inherit_train(raw, path)
    try:
        model = _TaskModel.model_validate(raw)
    except ValidationError as exc:
        inherited = (f" ([train] inherits the built-in {origin.body} task's settings; set the key in this file to "
                     "override it)") if origin.body and exc.errors()[0]["loc"][:1] == ("train",) else ""
        raise TaskError(f"{path}: {_first_error(exc)}{inherited}") from None
    body = _model_task(model, path)
    task = Task(
        name=model.name,
        env_id=body.path.name if body is not None else str(model.env),
        description=model.description.strip(),
        fitness_ref=model.fitness,
        adapter_ref=model.adapter,
        env_kwargs=dict(model.env_kwargs),
        train=TrainConfig(model.train.steps, model.train.n_envs, model.train.timeout_s, model.train.ppo,
                          tuple((str(k), v) for k, v in sorted(model.train.backend_steps.items()))),
        eval=EvalConfig(model.eval.selection_episodes, model.eval.heldout_episodes),
        source=path,
        train_origin=origin,
        model=body,
    )
    task.adapter  # noqa: B018 - resolve now so a bad env/adapter fails at load time, with the file named
    try:
        check_fitness_ref(task.fitness_ref, path.parent)
    except TaskError as exc:
        raise type(exc)(f"{path}: field 'fitness': {exc}") from None
    return task


def _model_task(model: _TaskModel, path: Path) -> ModelTask | None:
    if model.model is None:
        return None
    try:
        file = resolve_model(model.model, path.parent)
    except TaskError as exc:
        raise TaskError(f"{path}: field 'model': {exc}") from None
    return ModelTask(ref=model.model, path=file, physics=model.physics or PhysicsTable(),
                     state=model.state or StateTable(), base_dir=path.parent)


def _inherit_train(raw: dict[str, Any], path: Path) -> tuple[dict[str, Any], TrainOrigin]:
    """``raw`` with the built-in body's tuned ``[train]`` table under the file's own keys (see :class:`TrainOrigin`).

    Issue 26: a new task on the pendulum trained with SB3's generic PPO settings reached 3.12 rad/s
    where the pendulum's tuned block reached 4.00 with the same reward.
    """
    env = raw.get("env")
    own = raw.get("train", {})
    body = _builtin_bodies().get(env) if isinstance(env, str) and path.parent != BUILTIN_DIR.resolve() else None
    if body is None or not isinstance(own, dict):
        return raw, TrainOrigin()
    base = _builtin_train(body)
    merged = {**base, **own}
    if own.get("steps", base.get("steps")) != base.get("steps") and "backend_steps" not in own:
        merged.pop("backend_steps", None)  # a budget of the file's own is its budget on every backend
    own_ppo = own.get("ppo")
    if isinstance(own_ppo, dict) and isinstance(base.get("ppo"), dict):
        merged["ppo"] = {**base["ppo"], **own_ppo}
    # what the file changes: a key set to the body's own value (an example copying the block) overrides nothing
    keys = [k for k, v in own.items() if not (k == "ppo" and isinstance(own_ppo, dict)) and base.get(k) != v]
    if isinstance(own_ppo, dict):
        keys += [f"ppo.{k}" for k, v in own_ppo.items() if base.get("ppo", {}).get(k) != v]
    return {**raw, "train": merged}, TrainOrigin(body=body, overrides=tuple(keys))


@functools.cache
def _builtin_bodies() -> dict[str, str]:
    """The built-in task of each Gymnasium id (the first by name, should two share one)."""
    bodies: dict[str, str] = {}
    for name, file in builtin_task_files().items():
        env = tomllib.loads(file.read_text(encoding="utf-8")).get("env")
        if isinstance(env, str):  # a task on a model has no Gymnasium id to share
            bodies.setdefault(env, name)
    return bodies


@functools.cache
def _builtin_train(name: str) -> dict[str, Any]:
    table = tomllib.loads(builtin_task_files()[name].read_text(encoding="utf-8"))["train"]
    assert isinstance(table, dict)
    return table


def _first_error(exc: ValidationError) -> str:
    """The first validation error as ``field 'train.ppo.n_steps': <what> (got <value>)``, one line."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "(top level)"
    msg = str(err["msg"]).removeprefix("Value error, ")
    got = f" (got {err['input']!r})" if err["type"] != "value_error" else ""
    return " ".join(f"field {where!r}: {msg}{got}".split())


def _load_adapter(task: Task) -> StateAdapter:
    if task.model is not None:
        try:
            return ModelAdapter(task.model)
        except TaskError as exc:
            where = "" if str(exc).startswith("field ") else "field 'model': "
            raise TaskError(f"{task.source}: {where}{exc}") from None
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
    try:
        adapter = load_user_adapter((task.source.parent / file_part).resolve(), cls_name)
    except TaskError as exc:
        raise TaskError(f"{task.source}: field 'adapter': {exc}") from None
    adapter.env_id = task.env_id
    return adapter

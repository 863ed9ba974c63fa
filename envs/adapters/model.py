"""A task on any MuJoCo model: ``model = "robot.xml"`` in a task file, its state fields derived from the model.

A task file that names a model instead of a Gymnasium id says what a Gymnasium MuJoCo env would otherwise
hard-code in its ``[physics]`` table (frame skip, reset noise, episode length, a termination rule over the
state fields, the env's own reward) and, in ``[state]``, which bodies, joints, sites, sensors, contacts and
distances become fields (defaults: the root body, every hinge/slide joint, every named site and sensor).
:class:`ModelAdapter` compiles the model with a sensor per field (:mod:`envs.adapters.model_fields`), parses
the rule (:mod:`envs.adapters.expression`) and builds the SB3 backend's Gymnasium env
(:mod:`envs.adapters.model_env`); :meth:`ModelAdapter.values` reads the fields from any batch of
``sensordata`` with numpy or jax.numpy, so other physics engines share the very same fields.

A model may ship inside an installed package: ``model = "dm_control:suite/quadruped.xml"``; a package that is
not installed is a one-line error naming what to install.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import gymnasium as gym
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveInt, field_validator, model_validator

from rewardsmith.core.errors import TaskError
from rewardsmith.core.state import StateField, StateSpec
from rewardsmith.envs.adapters import StateAdapter
from rewardsmith.envs.adapters.expression import Condition, parse_condition
from rewardsmith.envs.adapters.model_fields import BuiltModel, Distance, Forward, Selection, build_model
from rewardsmith.envs.adapters.model_reads import RowReader

INSTALL_HINTS = {"dm_control": "pip install 'dm-control==1.0.50' (RewardSmith's base install has it)"}
"""What to install for a package a built-in task's model ships in."""


class PhysicsTable(BaseModel):
    """``[physics]``: what a Gymnasium MuJoCo env hard-codes, for a task on a model."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    frame_skip: PositiveInt = Field(default=5, description="physics steps of the model's timestep per env step")
    reset_noise: float = Field(default=0.1, ge=0, description="each episode starts at the model's initial pose plus "
                               "uniform noise of this size on qpos, and this much normal noise on qvel")
    max_steps: PositiveInt = Field(default=1000, description="env steps after which an episode is cut (truncated)")
    terminate_when: str | None = Field(default=None, description="a condition over the state fields that ends the "
                                       "episode, e.g. 'torso_height < 0.3'; none: no early termination")
    reward: str | None = Field(default=None, description="a reward file (compute_reward over the state fields) the "
                               "env pays as its own reward, the 'human' baseline; none: 0 every step")
    remove: tuple[str, ...] = Field(default=(), strict=False, description="bodies or geoms to delete from the model first")
    damping: tuple[tuple[str, NonNegativeFloat], ...] = Field(
        default=(), strict=False, description="{joint = damping, ...}: replaces those joints' damping in the model "
        "(DMC's spin task sets the spinner's hinge to 0.03 in Python, not in finger.xml's 0.5)")

    @field_validator("damping", mode="before")
    @classmethod
    def _damping_table(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise ValueError(f"damping is a table {{joint = value, ...}}, got {value!r}")
        return tuple(value.items())  # hashable, as the rest of the frozen table


class DistanceItem(BaseModel):
    """One ``[state] distances`` entry: ``["a", "b"]`` or ``{from = "a", to = "b", name = "..."}``."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)
    a: str = Field(alias="from")
    b: str = Field(alias="to")
    name: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")

    @model_validator(mode="before")
    @classmethod
    def _pair(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            if len(value) != 2 or not all(isinstance(v, str) for v in value):
                raise ValueError(f"a distance is two names [\"a\", \"b\"] or {{from, to, name}}, got {value!r}")
            return {"from": value[0], "to": value[1]}
        return value


class StateTable(BaseModel):
    """``[state]``: which parts of the model become state fields; a key left out takes its default."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    root: str | None = Field(default=None, description="the body whose motion is the robot's; default: the first "
                             "body with a free joint, else with a slide joint")
    joints: tuple[str, ...] | None = Field(default=None, strict=False, description="hinge/slide joints; default: "
                                           "every one not on the root")
    bodies: tuple[str, ...] = Field(default=(), strict=False, description="bodies whose position, height and "
                                    "velocity become fields")
    sites: tuple[str, ...] | None = Field(default=None, strict=False, description="sites whose position becomes a "
                                          "field; default: every named site")
    sensors: tuple[str, ...] | None = Field(default=None, strict=False, description="the model's own sensors as "
                                            "fields; default: every named sensor")
    contacts: tuple[str, ...] = Field(default=(), strict=False, description="bodies or geoms whose contact flag and "
                                      "net contact force become fields")
    distances: tuple[DistanceItem, ...] = Field(default=(), strict=False, description="distances between two "
                                                "sites or bodies")
    offsets: tuple[DistanceItem, ...] = Field(default=(), strict=False, description="where one site, body or geom "
                                              "is as seen from another: its x, y, z in the other's own frame")
    forward: Forward = Field(default="+x", description="the world direction that is the robot's forward")
    progress: str | None = Field(default=None, pattern=r"^-?[A-Za-z_][A-Za-z0-9_]*$", description="the scalar field "
                                 "whose growth is the task's progress ('-name': whose decrease); default: the root's "
                                 "velocity along forward")

    def selection(self) -> Selection:
        return Selection(root=self.root, joints=self.joints, bodies=self.bodies, sites=self.sites,
                         sensors=self.sensors, contacts=self.contacts, forward=self.forward,
                         distances=tuple(Distance(d.a, d.b, d.name) for d in self.distances),
                         offsets=tuple(Distance(d.a, d.b, d.name) for d in self.offsets))


@dataclass(frozen=True)
class ModelTask:
    """The model part of a task file: the MJCF file, its ``[physics]`` and its ``[state]``."""

    ref: str
    """``model = ...`` as written: a path relative to the task file, or ``package:path/inside.xml``."""
    path: Path
    physics: PhysicsTable
    state: StateTable
    base_dir: Path
    """The task file's folder (``physics.reward`` is relative to it)."""


def resolve_model(ref: str, base_dir: Path) -> Path:
    """The MJCF file a ``model = ...`` names: relative to the task file, or inside an installed package."""
    package, sep, inner = ref.partition(":")
    if sep and len(package) > 1 and re.fullmatch(r"[A-Za-z_]\w*", package):
        spec = importlib.util.find_spec(package)  # a top-level package is located, not imported
        if spec is None or not spec.submodule_search_locations:
            hint = INSTALL_HINTS.get(package, f"install the Python package that provides {package!r}")
            raise TaskError(f"model {ref!r}: the package {package!r} is not installed; {hint}")
        path = Path(next(iter(spec.submodule_search_locations))) / inner
    else:
        path = (base_dir / ref).resolve()
    if not path.is_file():
        raise TaskError(f"model file {path} does not exist (from model = {ref!r})")
    return path


class ModelAdapter(StateAdapter):
    """The state adapter of a task on a MuJoCo model (see the module docstring)."""

    def __init__(self, task: ModelTask) -> None:
        self.task = task
        self.env_id = task.path.name
        physics = task.physics
        self.built: BuiltModel = build_model(task.path, task.state.selection(), physics.remove, dict(physics.damping))
        fields = _with_progress(self.built.fields, task.state.progress)
        self.condition: Condition | None = None
        if physics.terminate_when is not None:
            self.condition = parse_condition(physics.terminate_when, {f.name: f for f in fields},
                                             "field 'physics.terminate_when'")
            fields = (*fields, StateField(
                name="healthy", shape=(), unit="1", kind="indicator", low=0.0, high=1.0,
                doc=f"1 while the episode may go on (not: {self.condition.text}), else 0 — the episode ends on the "
                    "step it becomes 0"))
            if [f.name for f in fields].count("healthy") > 1:
                raise TaskError("field 'state': the model has a part named 'healthy', the field the termination rule "
                                "adds; leave it out of [state]")
        self._reader = RowReader(self.built.reads)
        layout = dict(StateSpec(fields=self.built.fields, action=self.built.action_spec()).slices())
        self._rule_reads = [(f.name, layout[f], f.shape) for f in self.built.fields
                            if self.condition is not None and f.name in self.condition.names]
        self.reward_file = _reward_file(physics.reward, task.base_dir)
        self.model_file, self.frame_skip, self.reset_noise = task.path, physics.frame_skip, physics.reset_noise
        self.spec = StateSpec(fields=fields, action=self.built.action_spec(), notes=(self._note(),))

    def _note(self) -> str:
        p, m = self.task.physics, self.built.model
        dt = float(m.opt.timestep) * p.frame_skip
        ends = (f"the episode ends when {self.condition.text} (healthy becomes 0)" if self.condition
                else "there is no early termination")
        return (f"Built from the MuJoCo model {self.task.path.name}: one step = {p.frame_skip} physics steps of "
                f"{float(m.opt.timestep):g} s (dt = {dt:g} s); episodes are cut at {p.max_steps} steps and {ends}. "
                f"World frame: z up, the floor at z = 0. Each episode starts at the model's initial pose with noise "
                f"of ±{p.reset_noise:g}.")

    @property
    def dt(self) -> float:
        return float(self.built.model.opt.timestep) * self.task.physics.frame_skip

    def values(self, sensordata: Any, xp: ModuleType = np) -> dict[str, Any]:
        """Every field by name from ``(*batch, nsensordata)`` (``healthy`` from the rule); numpy or jax.numpy."""
        out = self.built.read(sensordata, xp)
        if self.condition is not None:
            out["healthy"] = xp.where(self.condition.evaluate(out, xp), 0.0, 1.0)
        return out

    def row(self, sensordata: np.ndarray) -> np.ndarray:
        """One env's flat state row from its ``(nsensordata,)`` (what :meth:`values` gives, packed; faster)."""
        row = self._reader(sensordata)
        if self.condition is None:
            return row
        rule = {name: row[s].reshape(shape) if shape else row[s.start] for name, s, shape in self._rule_reads}
        return np.append(row, 0.0 if self.condition.evaluate(rule) else 1.0)

    def make_env(self, render_mode: str | None = None, **kwargs: Any) -> gym.Env:
        from rewardsmith.envs.adapters.model_env import ModelEnv

        if kwargs:
            raise TaskError(f"a task on a model takes no env_kwargs (got {', '.join(kwargs)}); set [physics] instead")
        return gym.wrappers.TimeLimit(ModelEnv(self, render_mode=render_mode), self.task.physics.max_steps)

    def read(self, env: gym.Env, obs: np.ndarray) -> np.ndarray:
        row: np.ndarray = env.unwrapped.state_row  # type: ignore[attr-defined]  # computed once by the env's step
        return row


def _with_progress(fields: tuple[StateField, ...], progress: str | None) -> tuple[StateField, ...]:
    """The fields with ``forward_sign`` on the ``[state] progress`` field alone (the designer's "which way is ahead")."""
    if progress is None:
        return fields
    name, sign = progress.lstrip("-"), -1 if progress.startswith("-") else 1
    scalar = [f.name for f in fields if not f.shape]
    if name not in scalar:
        raise TaskError(f"field 'state.progress': {name!r} is not a scalar state field; the scalar fields: "
                        f"{', '.join(scalar)}")
    return tuple(replace(f, forward_sign=sign if f.name == name else 0) for f in fields)


def _reward_file(ref: str | None, base_dir: Path) -> Path | None:
    """The env's own reward file, checked statically (it runs in every env of the task, so it keeps the reward
    contract: numpy and math only, no I/O)."""
    if ref is None:
        return None
    from rewardsmith.sandboxes.static import check_source

    path = (base_dir / ref).resolve()
    if path.suffix != ".py" or not path.is_file():
        raise TaskError(f"field 'physics.reward': {path} is not a Python reward file that exists")
    report = check_source(path.read_text(encoding="utf-8"))
    if not report.ok:
        raise TaskError(f"field 'physics.reward': {path.name} is not a valid reward file: {report.errors[0]}")
    if not re.search(r"^def compute_reward\(", path.read_text(encoding="utf-8"), re.MULTILINE):
        raise TaskError(f"field 'physics.reward': {path.name} defines no compute_reward(state, action)")
    return path


"""Which tasks have a JAX environment, which physics steps a MuJoCo one, and building one.

Classic control is gymnax (:mod:`envs.backends.jax.envs`). The eight Gymnasium MuJoCo tasks and every task on
a MuJoCo model (``model = "robot.xml"``, rules in :mod:`envs.backends.jax.model_rules`) have two physics
engines with the same rules (:mod:`envs.backends.jax.mujoco_rules`): **native** — MuJoCo's
C engine stepping the round's whole batch on the host's cores (:mod:`envs.backends.jax.native_envs`),
the fast one on a CPU — and **mjx**, inside the compiled program (:mod:`envs.backends.jax.mjx_envs`),
the fast one on an accelerator and 25–38× slower than C MuJoCo on a CPU. :func:`physics_for` picks by
the platform JAX runs on; MuJoCo and MJX are imported only when a MuJoCo env is built. A task is built by
:func:`make_task_env`; :func:`physics_refusal` says why MJX cannot run a model (a sensor it lacks).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Literal

from rewardsmith.core.errors import TaskError
from rewardsmith.envs.backends.jax.envs import CLASSIC_ENVS, JaxEnv

if TYPE_CHECKING:
    from rewardsmith.envs.adapters.model import ModelAdapter
    from rewardsmith.envs.backends.jax.mujoco_rules import MujocoRules
    from rewardsmith.envs.tasks import Task

Physics = Literal["native", "mjx"]
PHYSICS: tuple[Physics, ...] = ("native", "mjx")
MUJOCO_ENV_IDS = ("Hopper-v5", "HalfCheetah-v5", "Walker2d-v5", "Swimmer-v5", "Ant-v5", "Humanoid-v5",
                  "Reacher-v5", "Pusher-v5")
"""The MuJoCo tasks on either physics (the keys of :data:`envs.backends.jax.mujoco_rules.RULES`)."""
PHYSICS_WORDS: dict[Physics, str] = {
    "native": "native physics (MuJoCo's C engine, the whole batch on every core)",
    "mjx": "MJX physics (inside the compiled program)",
}


def jax_env_ids() -> tuple[str, ...]:
    """Gymnasium ids that have a JAX environment (the tasks ``--backend jax`` can train)."""
    return (*CLASSIC_ENVS, *MUJOCO_ENV_IDS)


def platform_physics(platform: str) -> Physics:
    """The MuJoCo physics on ``platform`` (``cpu``, ``gpu``, …): native on a CPU, MJX on an accelerator."""
    return "native" if platform == "cpu" else "mjx"


def physics_for(env_id: str, platform: str) -> Physics | None:
    """The physics ``env_id`` steps on, on ``platform``; None for an env without MuJoCo."""
    return platform_physics(platform) if env_id in MUJOCO_ENV_IDS else None


def make_jax_env(env_id: str, physics: Physics | None = None) -> JaxEnv:
    """The JAX environment for a Gymnasium id; a MuJoCo one on ``physics`` (default: :func:`physics_for` the
    platform JAX runs on). An unknown id is a one-line ``KeyError`` listing the valid ones."""
    if env_id in CLASSIC_ENVS:
        return CLASSIC_ENVS[env_id]()
    if env_id not in MUJOCO_ENV_IDS:
        raise KeyError(f"no JAX environment for {env_id!r}; the jax backend has: {', '.join(jax_env_ids())}")
    return _mujoco_env(env_id, physics)


def task_physics(task: Task, platform: str) -> Physics | None:
    """The physics ``task`` steps on, on ``platform``; None for a task without MuJoCo."""
    return platform_physics(platform) if task.model is not None else physics_for(task.env_id, platform)


def make_task_env(task: Task, physics: Physics | None = None) -> JaxEnv:
    """The JAX environment of ``task``: :func:`make_jax_env` for a Gymnasium id, a task on a model on ``physics``
    (default: the platform's), still without its own reward's module (:mod:`envs.backends.jax.own_reward`)."""
    if task.model is None:
        return make_jax_env(task.env_id, physics)
    from rewardsmith.envs.backends.jax.model_rules import ModelRules

    return _mujoco_env(ModelRules(_model_adapter(task)), physics)


def physics_refusal(task: Task, platform: str) -> str | None:
    """Why the physics of ``platform`` cannot run ``task``, in one line; None when it can. Only a task on a model
    can be refused: on a CPU, for a field that reads the simulation time (native physics carries qpos, qvel,
    activations and the solver's warm start, not the time); on an accelerator, for what MJX does not implement
    (a contact sensor on a body, an ellipsoid-box collision: MJX's ``put_model`` is tried)."""
    if task.model is None:
        return None
    adapter = _model_adapter(task)
    if platform_physics(platform) == "native":
        clock = _clock_field(adapter)
        return None if clock is None else (
            f"native physics does not carry the simulation time the field {clock!r} of {task.env_id} reads (a clock "
            "sensor); leave it out of [state] sensors")
    from rewardsmith.envs.backends.jax.mjx_envs import put_model

    try:
        put_model(copy.copy(adapter.built.model), task.env_id)
    except TaskError as exc:
        return str(exc)
    return None


def _clock_field(adapter: ModelAdapter) -> str | None:
    """The first field that reads a clock sensor (the simulation time), if any."""
    import mujoco

    m = adapter.built.model
    clock = {int(m.sensor_adr[i]) for i in range(m.nsensor) if int(m.sensor_type[i]) == int(mujoco.mjtSensor.mjSENS_CLOCK)}
    return next((r.field.name for r in adapter.built.reads if clock & set(r.index)), None)


def _model_adapter(task: Task) -> ModelAdapter:
    from rewardsmith.envs.adapters.model import ModelAdapter

    adapter = task.adapter
    assert isinstance(adapter, ModelAdapter), "a task on a model reads its state through a ModelAdapter"
    return adapter


def _mujoco_env(env: str | MujocoRules, physics: Physics | None) -> JaxEnv:
    """A MuJoCo env (a Gymnasium id, or a task's rules) on ``physics`` (default: the platform JAX runs on's)."""
    if physics is None:
        import jax

        physics = platform_physics(jax.devices()[0].platform)
    if physics == "native":
        from rewardsmith.envs.backends.jax.native_envs import NativeMujocoEnv

        return NativeMujocoEnv(env)
    if physics == "mjx":
        from rewardsmith.envs.backends.jax.mjx_envs import MjxMujocoEnv

        return MjxMujocoEnv(env)
    raise KeyError(f"unknown physics {physics!r}; choose one of: {', '.join(PHYSICS)}")

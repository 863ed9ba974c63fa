"""Which Gymnasium ids have a JAX environment, which physics steps a MuJoCo one, and building one.

Classic control is gymnax (:mod:`envs.backends.jax.envs`). The eight MuJoCo tasks have two physics
engines with the same Gymnasium v5 rules (:mod:`envs.backends.jax.mujoco_rules`): **native** — MuJoCo's
C engine stepping the round's whole batch on the host's cores (:mod:`envs.backends.jax.native_envs`),
the fast one on a CPU — and **mjx**, inside the compiled program (:mod:`envs.backends.jax.mjx_envs`),
the fast one on an accelerator and 25–38× slower than C MuJoCo on a CPU. :func:`physics_for` picks by
the platform JAX runs on; MuJoCo and MJX are imported only when a MuJoCo env is built.
"""

from __future__ import annotations

from typing import Literal

from rewardsmith.envs.backends.jax.envs import CLASSIC_ENVS, JaxEnv

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
    if physics is None:
        import jax

        physics = physics_for(env_id, jax.devices()[0].platform)
    if physics == "native":
        from rewardsmith.envs.backends.jax.native_envs import NativeMujocoEnv

        return NativeMujocoEnv(env_id)
    if physics == "mjx":
        from rewardsmith.envs.backends.jax.mjx_envs import MjxMujocoEnv

        return MjxMujocoEnv(env_id)
    raise KeyError(f"unknown physics {physics!r}; choose one of: {', '.join(PHYSICS)}")

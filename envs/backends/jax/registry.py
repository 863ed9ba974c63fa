"""Which Gymnasium ids have a JAX environment, and building one (MJX is imported only for the MuJoCo ones)."""

from __future__ import annotations

from rewardsmith.envs.backends.jax.envs import CLASSIC_ENVS, JaxEnv

MJX_ENV_IDS = ("Hopper-v5", "HalfCheetah-v5")


def jax_env_ids() -> tuple[str, ...]:
    """Gymnasium ids that have a JAX environment (the tasks ``--backend jax`` can train)."""
    return (*CLASSIC_ENVS, *MJX_ENV_IDS)


def make_jax_env(env_id: str) -> JaxEnv:
    """The JAX environment for a Gymnasium id; an unknown id is a one-line ``KeyError`` listing the valid ones."""
    if env_id in CLASSIC_ENVS:
        return CLASSIC_ENVS[env_id]()
    if env_id in MJX_ENV_IDS:
        from rewardsmith.envs.backends.jax.mjx_envs import MJX_ENVS

        return MJX_ENVS[env_id]()
    raise KeyError(f"no JAX environment for {env_id!r}; the jax backend has: {', '.join(jax_env_ids())}")

"""Which training backend a run uses: ``sb3``, ``jax``, or ``auto`` (resolved once, at the start, and said).

``auto`` picks ``jax`` where the task has a JAX environment and that backend is the faster one on
this machine: always on a GPU; on a CPU only for classic control, where one compiled program for the
whole round is many times faster than one SB3 process per candidate, while MJX on a CPU is 25–38×
slower than C MuJoCo (docs/benchmarks.md has both measurements). ``sb3`` never imports JAX.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from rewardsmith.agent.config import RunConfig
from rewardsmith.core.errors import ConfigError
from rewardsmith.core.extras import JAX_MODULES, missing_modules, require_extra
from rewardsmith.envs.tasks import Task

Backend = Literal["sb3", "jax"]


def resolve_backend(task: Task, config: RunConfig) -> tuple[RunConfig, str]:
    """``config`` with ``backend`` resolved to ``sb3`` or ``jax``, and one line saying which and why."""
    if config.backend == "sb3":
        return config, "backend: sb3 (stable-baselines3 PPO, one process per candidate)"
    if config.backend == "auto" and missing_modules(*JAX_MODULES):
        return replace(config, backend="sb3"), "backend: sb3 (auto: JAX is not installed; pip install 'rewardsmith[jax]')"
    require_extra("jax", "--backend jax", *JAX_MODULES)
    from rewardsmith.envs.jaxtrain.envs import CLASSIC_ENVS
    from rewardsmith.envs.jaxtrain.fitness import jax_metric
    from rewardsmith.envs.jaxtrain.registry import jax_env_ids

    has_env = task.env_id in jax_env_ids()
    sparse_ok = not config.baselines or jax_metric(task.fitness_ref) is not None
    if config.backend == "jax":
        if not has_env:
            raise ConfigError(f"--backend jax: {task.env_id} has no JAX environment; the jax backend has: "
                              f"{', '.join(jax_env_ids())} (or use --backend sb3)")
        if not sparse_ok:
            raise ConfigError(f"--backend jax: the sparse baseline needs a built-in fitness metric, not "
                              f"{task.fitness_ref!r}; add --no-baselines or use --backend sb3")
        return config, f"backend: jax (all candidates of a round in one compiled program, on {_platform()})"
    platform = _platform()
    if not has_env:
        why = f"{task.env_id} has no JAX environment"
    elif not sparse_ok:
        why = f"the sparse baseline needs a built-in fitness metric on jax, not {task.fitness_ref!r}"
    elif platform != "gpu" and task.env_id not in CLASSIC_ENVS:
        why = "MJX on a CPU is slower than C MuJoCo with SB3 (docs/benchmarks.md)"
    else:
        return replace(config, backend="jax"), (f"backend: jax (auto: {task.env_id} has a JAX environment and "
                                                f"one program per round is the faster one on {platform})")
    return replace(config, backend="sb3"), f"backend: sb3 (auto: {why})"


def _platform() -> str:
    import jax

    return str(jax.devices()[0].platform)

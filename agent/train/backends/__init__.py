"""Training backends (:class:`~.base.Backend`): which one a run uses, resolved once at the start and said.

``--backend sb3|jax`` names one; ``auto`` picks jax where the task has a JAX environment and that
backend is the faster one on this machine (:meth:`.jax.JaxBackend.auto_refusal` says when it is not),
else sb3. ``sb3`` never imports JAX.
"""

from __future__ import annotations

from dataclasses import replace

from rewardsmith.agent.records.config import BackendName, RunConfig
from rewardsmith.agent.train.backends.base import Backend, CodeCheck
from rewardsmith.agent.train.backends.jax import JaxBackend
from rewardsmith.agent.train.backends.sb3 import SB3Backend
from rewardsmith.core.errors import ConfigError
from rewardsmith.envs.tasks import Task

BACKENDS: dict[BackendName, type[Backend]] = {"sb3": SB3Backend, "jax": JaxBackend}
"""Every backend by its ``--backend`` name; sb3 is the default."""

__all__ = ["BACKENDS", "Backend", "CodeCheck", "JaxBackend", "SB3Backend", "make_backend", "resolve_backend"]


def make_backend(name: str) -> Backend:
    """The backend ``name`` names (a missing extra is a one-line error naming its ``pip install``)."""
    try:
        cls = BACKENDS[name]  # type: ignore[index]
    except KeyError:
        raise ConfigError(f"unknown backend {name!r}; choose one of: {', '.join(BACKENDS)}") from None
    return cls()


def resolve_backend(task: Task, config: RunConfig) -> tuple[RunConfig, Backend, str]:
    """``config`` with ``backend`` resolved to a backend's name, that backend, and one line saying which and why."""
    if config.backend != "auto":
        backend = make_backend(config.backend)
        backend.check(task, config)
        return config, backend, f"backend: {backend.name} ({backend.describe()})"
    if not JaxBackend.installed():
        why = "JAX is not installed; pip install 'rewardsmith[jax]'"
    else:
        jax = JaxBackend()
        refusal = jax.auto_refusal(task, config)
        if refusal is None:
            return replace(config, backend=jax.name), jax, f"backend: jax (auto: {jax.auto_reason(task)})"
        why = refusal
    return replace(config, backend=SB3Backend.name), SB3Backend(), f"backend: sb3 (auto: {why})"

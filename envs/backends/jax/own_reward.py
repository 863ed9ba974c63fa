"""The env's own reward of a task on a MuJoCo model, on the jax backend: its reward file through the candidates' path.

A task on a model names its env's own reward as a reward file (``[physics] reward = "own_reward.py"``): user
Python with the candidates' contract (``compute_reward(state, action)`` over the state fields, numpy only). The
SB3 env imports it like the fitness function; the jax round's program would have to run it on every step, and
the trainer never runs user Python. So :func:`export_own_reward` sends the file down the very path a candidate
takes: traced with ``jax.numpy`` and exported in a fresh sandbox worker (:func:`sandboxes.jax.export.export_reward`),
then checked in the job before a byte of it runs (:func:`sandboxes.jax.module_check.check_exported`). A file that
cannot be traced (an in-place write, a branch on an array) is refused with a one-line reason, which the job
writes as the human baseline's own failure (:mod:`envs.backends.jax.job`): the other arms still train.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

from rewardsmith.core.errors import SandboxError
from rewardsmith.core.state import StateSpec

Array = jax.Array


class OwnRewardRefused(Exception):
    """The reward file cannot be the env's own reward on the jax backend; the message is one line that says why."""


@dataclass(frozen=True)
class OwnReward:
    """The reward file's checked module, called on a whole batch of envs."""

    file: Path
    call: Callable[..., Any] = field(repr=False)
    """The module's ``call(params, state, action) -> (total, components)`` (``b`` symbolic; not vmappable)."""
    constants: Mapping[str, float] = field(default_factory=dict)
    """The file's named constants, fed as ``params``."""

    def batch(self, fields: Mapping[str, Array], actions: Array, shape: tuple[int, ...]) -> Array:
        """The reward of every env: ``fields`` leaves ``(*shape, *field_shape)``, ``actions`` ``(*shape, A)`` →
        ``shape`` float32 (one call on the flattened batch)."""
        n, lead = math.prod(shape), len(shape)
        state = {k: jnp.asarray(v, jnp.float32).reshape(n, *v.shape[lead:]) for k, v in fields.items()}
        params = {k: jnp.full((n,), v, jnp.float32) for k, v in self.constants.items()}
        total, _ = self.call(params, state, jnp.asarray(actions, jnp.float32).reshape(n, -1))
        return jnp.asarray(total, jnp.float32).reshape(shape)


def export_own_reward(file: Path, spec: StateSpec) -> OwnReward:
    """Trace and export ``file``'s ``compute_reward`` in the sandbox, check the module here, and return it.

    Raises :class:`OwnRewardRefused` (one line naming the file) when the sandbox refuses it or the module fails
    its checks.
    """
    from rewardsmith.core.text import printable
    from rewardsmith.sandboxes.jax.export import ExportFault, export_reward
    from rewardsmith.sandboxes.jax.module_check import ModuleRejected, check_exported

    where = f"the env's own reward file {file.name} cannot run on the jax backend"
    try:
        exported = export_reward(file.read_text(encoding="utf-8"), spec)
    except ExportFault as fault:
        raise OwnRewardRefused(f"{where}: {_line(fault.message)} (it must trace with jax.numpy as a candidate "
                               "must; or use --backend sb3)") from None
    except (SandboxError, OSError) as exc:
        raise OwnRewardRefused(f"{where}: {_line(printable(str(exc)))}") from None
    try:
        module = check_exported(exported.blob, spec, spec.action.dim, exported.components, tuple(exported.constants))
    except ModuleRejected as rejected:
        raise OwnRewardRefused(f"{where}: its module was refused: {_line(str(rejected))}") from None
    return OwnReward(file=file, call=module.call, constants=dict(exported.constants))


def _line(text: str) -> str:
    return " ".join(text.split())[:400]

"""Reward modules as a hostile sandbox could hand them over: exported bytes made here, not from a candidate's source.

Each passes the trainer's module check (:func:`sandboxes.jax.module_check.check_exported`: the task's
schema, allowed ops only, loops with static trip counts, tensors within the per-row cap) and is cheap
on the validation probe's single call, but misbehaves in a round: it runs far too long per call, runs
for hours, fails at the training batch size (a shape constraint the probe's 64 rows meet and a
round's envs do not), or needs gigabytes at the training batch size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax import export, lax

from rewardsmith.core.state import StateSpec

Fn = Callable[[dict[str, Any], dict[str, Any], Any], tuple[Any, dict[str, Any]]]


def module(fn: Fn, spec: StateSpec, constraints: Sequence[str] = ()) -> bytes:
    """``fn(params, state, action) -> (total, {name: component})`` exported for the task's schema, batch ``b``."""
    (b,) = export.symbolic_shape("b", constraints=tuple(constraints))
    state = {f.name: jax.ShapeDtypeStruct((b, *f.shape), jnp.float32) for f in spec.fields}
    action = jax.ShapeDtypeStruct((b, spec.action.dim), jnp.float32)
    return bytes(export.export(jax.jit(fn), platforms=("cpu",))({}, state, action).serialize())


def upright(params: dict[str, Any], state: dict[str, Any], action: Any) -> tuple[Any, dict[str, Any]]:
    """A good CartPole reward: the pole near upright."""
    up = jnp.exp(-jnp.square(state["pole_angle"] / 0.1))
    return up, {"up": up}


def _churn(x: Any, width: int, trips: int) -> Any:
    """``trips`` sorts of a ``(b, width)`` tensor, in a loop with a static trip count; 0 times ``x`` in the end."""
    wide = x[:, None] * lax.iota(jnp.float32, width)[None, :]
    spun = lax.fori_loop(0, trips, lambda _, w: jnp.sort(w[:, ::-1] + 1.0, axis=1), wide)
    return x + 0.0 * spun[:, 0]


def slow(params: dict[str, Any], state: dict[str, Any], action: Any) -> tuple[Any, dict[str, Any]]:
    """Upright, plus 50 sorts of 4,096 numbers per row on every call: under a second on the probe's one call of
    64 rows, a tenth of a second on a round's 8 envs, and a round calls it hundreds of times."""
    up = _churn(jnp.exp(-jnp.square(state["pole_angle"] / 0.1)), 1 << 12, 50)
    return up, {"up": up}


def hangs(params: dict[str, Any], state: dict[str, Any], action: Any) -> tuple[Any, dict[str, Any]]:
    """Ten thousand times ten thousand sorts per call (static trip counts): the first call does not end for days."""
    x = jnp.exp(-jnp.square(state["pole_angle"] / 0.1))
    up = lax.fori_loop(0, 10_000, lambda _, v: _churn(v, 1 << 12, 10_000), x)
    return up, {"up": up}


def bomb(params: dict[str, Any], state: dict[str, Any], action: Any) -> tuple[Any, dict[str, Any]]:
    """A sorted ``(b, 2^19)`` tensor: 2 MiB a row, 4 GiB at 2,048 envs."""
    up = _churn(jnp.exp(-jnp.square(state["pole_angle"] / 0.1)), 1 << 19, 1)
    return up, {"up": up}


CRASH_BELOW = ("b >= 16",)
"""Constraints that make a module fail at a round's 8 CartPole envs and pass on the probe's 64 rows."""

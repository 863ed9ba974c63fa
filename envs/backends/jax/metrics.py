"""The built-in fitness metrics as running per-episode accumulators in JAX.

The JAX trainer needs the fitness of each episode *as it ends*, on the device: to log it over
training (``Checkpoint.fitness``, diagnostic only) and to pay it as the "sparse" baseline's reward.
Each metric of :mod:`envs.fitness` gets an accumulator here that computes the same number from the
post-step states one step at a time (a test compares both on recorded episodes). A task whose
fitness is a user's own Python function has no accumulator: its function scores the training
episodes on the host instead, and pays the sparse arm there (:mod:`envs.backends.jax.episodes`), at
the cost of one host callback per env step for a round with a sparse arm.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

Array = jax.Array
Acc = dict[str, Array]
Fields = dict[str, Array]


class EpisodeMetric(NamedTuple):
    """``init()`` → per-env accumulator; ``update(acc, fields, env_reward, first)``; ``value(acc, length)``."""

    init: Callable[[], Acc]
    update: Callable[[Acc, Fields, Array, Array], Acc]
    value: Callable[[Acc, Array], Array]


def _zero() -> Acc:
    return {"a": jnp.zeros((), jnp.float32), "b": jnp.zeros((), jnp.float32)}


def _sum(term: Callable[[Fields, Array], Array]) -> Callable[[Acc, Fields, Array, Array], Acc]:
    def update(acc: Acc, fields: Fields, env_reward: Array, first: Array) -> Acc:
        return {"a": jnp.where(first, 0.0, acc["a"]) + term(fields, env_reward), "b": acc["b"]}
    return update


def _first_last(name: str) -> Callable[[Acc, Fields, Array, Array], Acc]:
    def update(acc: Acc, fields: Fields, env_reward: Array, first: Array) -> Acc:
        x = jnp.asarray(fields[name], jnp.float32)
        return {"a": jnp.where(first, x, acc["a"]), "b": x}
    return update


def _max_position(acc: Acc, fields: Fields, env_reward: Array, first: Array) -> Acc:
    x = jnp.asarray(fields["position"], jnp.float32)
    return {"a": jnp.where(first, x, jnp.maximum(acc["a"], x)), "b": acc["b"]}


def _length(fields: Fields, env_reward: Array) -> Array:
    return jnp.zeros((), jnp.float32)


JAX_METRICS: dict[str, EpisodeMetric] = {
    "balance_steps": EpisodeMetric(_zero, _sum(_length), lambda acc, n: n.astype(jnp.float32)),
    "upright_fraction": EpisodeMetric(
        _zero, _sum(lambda f, r: (jnp.cos(f["angle"]) > 0.9).astype(jnp.float32)),
        lambda acc, n: acc["a"] / jnp.maximum(n, 1)),
    "flag_progress": EpisodeMetric(_zero, _max_position, lambda acc, n: jnp.clip((acc["a"] + 0.5) / 0.95, 0.0, 1.0)),
    "env_return": EpisodeMetric(_zero, _sum(lambda f, r: r), lambda acc, n: acc["a"]),
    "forward_distance": EpisodeMetric(_zero, _first_last("x_position"), lambda acc, n: acc["b"] - acc["a"]),
    "neg_target_distance": EpisodeMetric(
        _zero, _sum(lambda f, r: jnp.asarray(f["distance_to_target"], jnp.float32)),
        lambda acc, n: -acc["a"] / jnp.maximum(n, 1)),
    "neg_object_goal_distance": EpisodeMetric(_zero, _first_last("object_to_goal"), lambda acc, n: -acc["b"]),
}


def jax_metric(fitness_ref: str) -> EpisodeMetric | None:
    """The accumulator of a built-in metric, or None for a user's own fitness function."""
    return JAX_METRICS.get(fitness_ref)

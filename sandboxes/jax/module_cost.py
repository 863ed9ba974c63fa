"""A checked reward module called at the training batch size, in the checker child: its memory, its time,
its determinism, and its outputs on many states.

The round's program calls each arm's reward once per step on that arm's ``n_envs`` states, so that is
the batch size everything here uses (:class:`BatchCall`): the module is compiled once for it, and

- **memory**: XLA's buffer assignment for one call (arguments, outputs, temporaries) must stay under
  ``max_call_memory_mb``, read from the compiled program before it runs (a memory bomb is refused
  without allocating anything; the child's RLIMIT_AS catches what the analysis misses);
- **time**: one call may take ``max(call_floor_ms, call_ratio × reference)``, where the reference is a
  trivial module of the same schema (the sum of the inputs) compiled and timed here, at the same batch
  size, interleaved with the candidate's calls. A reference module rather than the task's own numpy
  reward: the round never runs numpy code, a numpy timing measures Python's dispatch rather than XLA's,
  and the trivial module measures what every reward pays on this machine under its present load
  (dispatch, moving the batch through memory), so a busy or slow machine moves budget and measurement
  alike. The floor absorbs timer noise where the reference is a few microseconds. Benign rewards cost
  1.5–4 references (CartPole: 14 µs against 9 µs at 8 envs, 77 µs against 37 µs at 2048). One
  measurement stands for every state: the module rules (:mod:`sandboxes.jax.module_rules`) leave no
  data-dependent loop or branch, so a call costs the same on any input. A call still running after
  ``call_timeout_s`` is killed by the parent (the child says when the timed calls start);
- **determinism**: repeated calls on the same inputs must give the same bits;
- **outputs**: :meth:`BatchCall.evaluate` runs the module over any number of states, ``batch`` at a time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from rewardsmith.core.state import StateSpec
from rewardsmith.sandboxes.jax.module_rules import ModuleLimits, ModuleRejected

if TYPE_CHECKING:
    from jax.export import Exported

_REPEATS = 5
"""Timed calls of each module (the fastest counts: noise only ever adds time)."""


@dataclass(frozen=True)
class CallCost:
    """What one call at the training batch size cost (the fastest of the timed calls)."""

    call_ms: float
    reference_ms: float
    budget_ms: float
    memory_mb: float
    """XLA's buffer assignment for one call."""


class ReferenceModules:
    """The trivial reference module (the sum of a state's fields and its action) per state schema and batch
    size, compiled once per child."""

    def __init__(self) -> None:
        self._compiled: dict[tuple[Any, ...], Any] = {}

    def get(self, state: dict[str, Any], action: Any) -> Any:
        import jax

        key = (tuple((k, v.shape) for k, v in state.items()), action.shape)
        if key not in self._compiled:
            def reference(state: dict[str, Any], action: Any) -> Any:
                return sum(v.reshape(v.shape[0], -1).sum(axis=1) for v in state.values()) + action.sum(axis=1)

            self._compiled[key] = jax.jit(reference).lower(state, action).compile()
        return self._compiled[key]


class BatchCall:
    """A checked module compiled for ``batch`` states, with its per-env constants."""

    def __init__(self, exported: Exported, spec: StateSpec, constants: dict[str, float],
                 components: Sequence[str], batch: int, limits: ModuleLimits) -> None:
        import jax

        self.spec, self.constants, self.components = spec, constants, tuple(components)
        self.batch, self.limits = batch, limits
        rows = np.zeros((batch, spec.size))
        self.compiled = jax.jit(exported.call).lower(*self._args(rows, np.zeros((batch, spec.action.dim)))).compile()
        self.memory_mb = _memory_mb(self.compiled)
        if self.memory_mb > limits.max_call_memory_mb:
            raise ModuleRejected("memory", f"one call on {batch} states needs {self.memory_mb:.0f} MB; at most "
                                           f"{limits.max_call_memory_mb} MB are allowed")

    def _args(self, states: np.ndarray, actions: np.ndarray) -> tuple[Any, ...]:
        """The module's inputs for ``states (n, D)``: float32 host arrays, the constants one per row."""
        n = len(states)
        fields = self.spec.unpack(np.asarray(states, dtype=np.float64)).as_dict()
        state = {k: np.asarray(v, np.float32) for k, v in fields.items()}
        params = {k: np.full((n,), v, np.float32) for k, v in self.constants.items()}
        return params, state, np.asarray(actions, np.float32)

    def cost(self, states: np.ndarray, actions: np.ndarray, references: ReferenceModules,
             announce: Callable[[], None]) -> CallCost:
        """Time the module against the reference on the first ``batch`` of ``states`` (``announce`` just
        before the first call); refuse it over budget or when two calls differ."""
        import jax

        lim = self.limits
        args = jax.device_put(self._args(*_batch_of(states, actions, self.batch, 0)))  # time the call, not copies
        reference, ref_args = references.get(args[1], args[2]), args[1:]
        jax.block_until_ready(reference(*ref_args))
        announce()
        first, first_ms = _timed(self.compiled, args)
        ref_ms = min(_timed(reference, ref_args)[1] for _ in range(_REPEATS))
        budget = max(lim.call_floor_ms, lim.call_ratio * ref_ms)
        times = [first_ms]
        # The fastest of several calls counts (a busy machine preempts some); a clearly slow module gets fewer.
        for _ in range(_REPEATS if first_ms <= 10 * budget else 2):
            out, ms = _timed(self.compiled, args)
            times.append(ms)
            ref_ms = min(ref_ms, _timed(reference, ref_args)[1])
            if not _same_bits(out, first):
                raise ModuleRejected("nondeterministic", "two calls on the same states gave different values; "
                                                         "a reward must be a deterministic function of (state, action)")
        budget = max(lim.call_floor_ms, lim.call_ratio * ref_ms)
        call_ms = min(times)
        if call_ms > budget:
            raise ModuleRejected("slow", f"one call on {self.batch} states takes {call_ms:.1f} ms; the budget is "
                                         f"{budget:.1f} ms ({lim.call_ratio:g}× a trivial reward's {ref_ms:.3f} ms, "
                                         f"at least {lim.call_floor_ms:g} ms)")
        return CallCost(call_ms, ref_ms, budget, self.memory_mb)

    def evaluate(self, states: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The module on ``states (N, D)`` and ``actions (N, A)``, ``batch`` rows per call (the last call padded)."""
        import jax

        n, b = len(states), self.batch
        calls = -(-n // b)
        params, state, action = self._args(*_batch_of(states, actions, calls * b, 0))  # converted once
        first = jax.device_put({k: v[:b] for k, v in params.items()})  # the same for every call
        totals: list[np.ndarray] = []
        parts: dict[str, list[np.ndarray]] = {c: [] for c in self.components}
        for i in range(0, calls * b, b):
            total, comps = self.compiled(first, {k: v[i: i + b] for k, v in state.items()}, action[i: i + b])
            totals.append(np.asarray(total))
            for c in self.components:
                parts[c].append(np.asarray(comps[c]))
        return np.concatenate(totals)[:n], {c: np.concatenate(v)[:n] for c, v in parts.items()}


def _batch_of(states: np.ndarray, actions: np.ndarray, batch: int, start: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``start .. start + batch``, wrapping around to the first rows where ``states`` runs out."""
    rows = (start + np.arange(batch)) % len(states)
    return states[rows], actions[rows]


def _timed(fn: Any, args: tuple[Any, ...]) -> tuple[Any, float]:
    import jax

    started = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return out, (time.perf_counter() - started) * 1e3


def _same_bits(a: Any, b: Any) -> bool:
    import jax

    return all(np.array_equal(np.asarray(x), np.asarray(y), equal_nan=True)
               for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def _memory_mb(compiled: Any) -> float:
    stats = compiled.memory_analysis()
    if stats is None:  # not every backend analyses memory; the child's RLIMIT_AS still holds
        return 0.0
    total = (stats.argument_size_in_bytes + stats.output_size_in_bytes + stats.temp_size_in_bytes
             + stats.generated_code_size_in_bytes)
    return float(total) / (1 << 20)

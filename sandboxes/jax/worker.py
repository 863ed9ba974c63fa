"""The JAX export worker: traces one candidate's ``compute_reward`` with ``jax.numpy`` and exports it.

Started by :func:`sandboxes.jax.export.export_reward` (inside bubblewrap when available); never
imported by the trainer. Like :mod:`sandboxes.worker` it arranges to die with its parent, imports and
warms up everything first (jax, its CPU backend and thread pools, an export + serialization of a
sample reward), limits its resources, installs the seccomp allow-list, and only then runs candidate
code. The candidate's ``import numpy as np`` gets :data:`JNP` (``jax.numpy`` plus a no-op
``errstate``); its ALL_CAPS numeric module constants are lifted into a per-env ``params`` input.

The reward is traced per row (``jax.vmap`` over the batch, the candidate seeing a batch of one), so a
lifted constant is a scalar inside the candidate's code and broadcasts exactly like the Python float
it replaces. The result — ``Exported.serialize()`` — goes back base64-encoded in one JSON frame. The
bytes are untrusted: the trainer checks them (``sandboxes/jax/module_check.py``) before any use.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import dataclasses
import linecache
import math
import re
import sys
import time
import types
import typing
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from rewardsmith.core.procs import die_with_parent
from rewardsmith.core.state import StateBatch
from rewardsmith.sandboxes import allowlist, protocol, seccomp
from rewardsmith.sandboxes.worker import describe_exception, limit_resources

_FILENAME = "reward.py"  # the name sandboxes.worker.describe_exception looks for in tracebacks
_CONSTANT = re.compile(r"^[A-Z][A-Z0-9_]*$")

# The advice a designer gets for each JAX tracing rule it broke (matched on the exception's type name).
_ADVICE = {
    "TracerBoolConversionError": "use np.where(cond, a, b) instead of `if`/`and`/`or`/`while` on an array",
    "ConcretizationTypeError": "the code needs a concrete value where only an array is known when the reward is "
                               "compiled; use np.where(cond, a, b) instead of `if` on an array, and fixed sizes",
    "TracerIntegerConversionError": "an array is used as a Python int (an index, a range or a size); "
                                    "use fixed sizes and np.take/np.where instead",
    "TracerArrayConversionError": "an array is converted to a Python value; keep it an array",
    "NonConcreteBooleanIndexError": "boolean-mask indexing (x[mask]) gives a data-dependent shape; "
                                    "use np.where(mask, x, 0.0) and reduce over the full array instead",
    "InconclusiveDimensionOperation": "a shape depends on the batch size in a way that cannot be compiled; "
                                      "use per-row operations (axis=1) and fixed sizes",
    "UnexpectedTracerError": "an array escaped the reward function (kept in a module-level variable); "
                             "keep no state between calls",
}
_INPLACE_ADVICE = ("in-place writes are not possible on the jax backend: write `x = np.where(cond, value, x)` "
                   "instead of `x[cond] = value` (arrays are immutable)")


class _Fault(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind, self.message = kind, message


def _jax_numpy() -> types.ModuleType:
    """``numpy`` as the candidate sees it here: ``jax.numpy``, with a no-op ``errstate`` and a ``linalg`` that
    says which functions the jax backend cannot take (:data:`sandboxes.allowlist.JAX_LAPACK_LINALG`)."""
    import jax.numpy as jnp

    class JaxLinalg(types.ModuleType):
        def __getattr__(self, name: str) -> Any:
            if name in allowlist.JAX_LAPACK_LINALG:
                raise AttributeError(f"np.linalg.{name} is not available on the jax backend: "
                                     f"{allowlist.JAX_LINALG_RULE}")
            return getattr(jnp.linalg, name)

    linalg = JaxLinalg("numpy.linalg")

    class JaxNumpy(types.ModuleType):
        def __getattr__(self, name: str) -> Any:
            if name == "errstate":  # floating-point errors do not raise in XLA; nothing to switch off
                return lambda **_kw: contextlib.nullcontext()
            if name == "linalg":
                return linalg
            try:
                return getattr(jnp, name)
            except AttributeError:
                raise AttributeError(f"np.{name} is not available on the jax backend (jax.numpy has no {name!r})") \
                    from None

    return JaxNumpy("numpy")


def _restricted_import(jnp_module: types.ModuleType) -> Callable[..., Any]:
    modules = {"numpy": jnp_module, "math": math, "typing": typing}

    def _import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:
        if level or name not in allowlist.ALLOWED_IMPORTS:
            raise ImportError(f"import of {name!r} is not allowed")
        if name == "numpy.linalg":  # `import numpy.linalg` binds numpy; `from numpy.linalg import x` reads linalg
            return jnp_module.linalg if fromlist else jnp_module
        if name not in modules:
            raise ImportError(f"import of {name!r} is not allowed")
        return modules[name]

    return _import


def _candidate_globals(jnp_module: types.ModuleType) -> dict[str, Any]:
    import builtins

    safe = {n: getattr(builtins, n) for n in allowlist.SAFE_BUILTINS if hasattr(builtins, n)}
    safe["print"] = lambda *a, **k: None  # nothing is shown from a trace
    safe["__import__"] = _restricted_import(jnp_module)
    return {"__builtins__": safe, "__name__": "reward"}


def lifted_constant_names(source: str) -> list[str]:
    """ALL_CAPS names bound at module level to a number literal (``W_SPEED = 0.5``, ``N = -3``)."""
    names: list[str] = []
    for node in ast.parse(source).body:
        target, value = None, None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        if isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.USub | ast.UAdd):
            value = value.operand
        if (isinstance(target, ast.Name) and _CONSTANT.match(target.id) and isinstance(value, ast.Constant)
                and type(value.value) in (int, float) and target.id not in names):
            names.append(target.id)
    return names


class _Tracer:
    """One candidate module, loaded, and the per-row function that JAX traces."""

    def __init__(self, source: str, fields: Sequence[tuple[str, Sequence[int]]], action_dim: int,
                 max_components: int) -> None:
        self.fields, self.action_dim, self.max_components = fields, action_dim, max_components
        jnp_module = _jax_numpy()
        linecache.cache[_FILENAME] = (len(source), None, source.splitlines(keepends=True), _FILENAME)
        self.namespace = _candidate_globals(jnp_module)
        try:
            exec(compile(source, _FILENAME, "exec"), self.namespace)
        except Exception as exc:
            raise _Fault("exception", "while loading the module: " + _describe(exc)) from None
        fn = self.namespace.get("compute_reward")
        if not callable(fn):
            raise _Fault("bad_output", "the module defines no function compute_reward(state, action)")
        self.fn = fn
        values = {n: self.namespace.get(n) for n in lifted_constant_names(source)}
        self.constants = {n: float(v) for n, v in values.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        self.float_constants = [n for n, v in values.items() if type(v) is float]
        self.components: list[str] = []

    def row(self, lifted: list[str]) -> Callable[..., Any]:
        """``(params, state, action)`` of one row -> ``(total (), {name: ()})``; the candidate sees a batch of 1."""
        import jax.numpy as jnp

        def one_row(params: dict[str, Any], state: dict[str, Any], action: Any) -> Any:
            saved = {n: self.namespace[n] for n in lifted}
            self.namespace.update({n: params[n] for n in lifted})
            try:
                result = self.fn(StateBatch({k: v[None] for k, v in state.items()}), action[None])
            finally:
                self.namespace.update(saved)
            if not (isinstance(result, tuple) and len(result) == 2):
                raise _Fault("bad_output", "compute_reward must return a tuple (total, components), "
                                           f"got {type(result).__name__}")
            total, comps = result
            if not isinstance(comps, dict):
                raise _Fault("bad_output", "the second value returned must be a dict of components, "
                                           f"got {type(comps).__name__}")
            if len(comps) > self.max_components:
                raise _Fault("bad_output", f"{len(comps)} components; at most {self.max_components} are allowed")
            out = {}
            for name, value in comps.items():
                if not isinstance(name, str) or not name.isidentifier() or len(name) > allowlist.MAX_COMPONENT_NAME:
                    raise _Fault("bad_output", f"component names must be short identifiers, got {name!r}"[:200])
                out[name] = _one_value(f"component {name!r}", value, jnp)
            self.components = list(comps)
            return _one_value("total reward", total, jnp), out

        return one_row

    def export(self, lifted: list[str]) -> Any:
        import jax
        import jax.numpy as jnp
        from jax import export

        (b,) = export.symbolic_shape("b")
        f32 = jnp.float32
        params = {n: jax.ShapeDtypeStruct((b,), f32) for n in lifted}
        state = {n: jax.ShapeDtypeStruct((b, *shape), f32) for n, shape in self.fields}
        action = jax.ShapeDtypeStruct((b, self.action_dim), f32)
        batched = jax.vmap(self.row(lifted))
        return export.export(jax.jit(batched), platforms=("cpu", "cuda"))(params, state, action)


def _one_value(what: str, value: Any, jnp: Any) -> Any:
    try:
        arr = jnp.asarray(value)
    except Exception as exc:
        raise _Fault("bad_output", f"{what} is not an array: {type(exc).__name__}") from None
    if arr.dtype.kind not in "biuf":
        raise _Fault("bad_output", f"{what} has dtype {arr.dtype}; expected real numbers")
    if arr.shape != (1,):
        raise _Fault("bad_output", f"{what} has shape {(*arr.shape[:-1], 'B') if arr.ndim else ()}; expected (B,), "
                                   "one value per environment")
    return arr[0].astype(jnp.float32)


def _describe(exc: BaseException) -> str:
    """The candidate's lines in the traceback, then what to change when a JAX tracing rule was broken."""
    text = describe_exception(exc)
    where = [line for line in text.splitlines() if line.startswith("line ")][-1:]
    name = type(exc).__name__
    if name in _ADVICE:
        return "\n".join([*where, f"{name}: {_ADVICE[name]}"])
    if isinstance(exc, TypeError) and ("immutable" in str(exc) or "does not support item assignment" in str(exc)):
        return "\n".join([*where, _INPLACE_ADVICE])
    return text


def trace_and_export(source: str, cfg: protocol.ExportWorkerConfig) -> dict[str, Any]:
    """Load, trace and export; lifted constants fall back to fixed values where code needs them concrete."""
    tracer = _Tracer(source, cfg.fields, cfg.action_dim, cfg.max_components)
    # Constants used as sizes, indices or in Python `if` cannot be traced values: try all floats and
    # ints, then floats only, then none (those then stay fixed numbers inside the module).
    attempts = [list(tracer.constants), tracer.float_constants, []]
    error: BaseException | None = None
    started = time.perf_counter()
    for lifted in dict.fromkeys(tuple(a) for a in attempts):
        try:
            exported = tracer.export(list(lifted))
            break
        except _Fault:
            raise
        except Exception as exc:
            error = exc  # the last attempt's error: with nothing lifted, it is the candidate's own
    else:
        assert error is not None
        raise _Fault("not_traceable", _describe(error)) from None
    blob = bytes(exported.serialize())
    if len(blob) > cfg.max_bytes:
        raise _Fault("too_large", f"the exported reward is {len(blob)} bytes; at most {cfg.max_bytes} are allowed "
                                  "(Python loops are unrolled when the reward is compiled: vectorise them)")
    return {"blob": base64.b64encode(blob).decode(), "components": tracer.components,
            "constants": {n: tracer.constants[n] for n in lifted}, "trace_ms": (time.perf_counter() - started) * 1e3}


_WARMUP = """
import math
import numpy as np
W_A = 0.5
def compute_reward(state, action):
    x = state.x
    v = np.stack([x, np.abs(x)], axis=1)
    y = np.where(x > 0, np.exp(-np.square(x)), np.tanh(x)) + np.clip(x, -1, 1) * W_A + math.pi
    z = np.linalg.norm(action, axis=1) + np.sum(action ** 2, axis=1) + v.max(axis=1) + np.mean(v, axis=1)
    w = np.cos(x).astype(np.float64).round(3) + np.sqrt(np.abs(x)) + np.log1p(np.abs(x)) + np.arctan2(x, 1.0)
    return y + z + w, {"y": y, "z": z, "w": w, "c": np.full_like(x, 1.0), "s": np.sort(v, axis=1)[:, 0]}
"""


def single_threaded_mlir() -> None:
    """Make every MLIR context jax creates from now on run its passes on the calling thread.

    jax shares one LLVM thread pool between its MLIR contexts, and that pool starts its threads on demand:
    the warm-up's small module may start one, a candidate with more functions to lower asks for another —
    after seccomp, which refuses ``clone``, so LLVM aborts the worker ("pthread_create failed", SIGSEGV)
    and a benign candidate is refused as a crash (seen under load on fish-swim's 2-component reward).
    A single-threaded context never asks the pool for a thread; a candidate is small, so it costs nothing.
    """
    from jax._src.interpreters import mlir

    make = mlir.make_ir_context
    if getattr(make, "single_threaded", False):
        return

    def make_single_threaded() -> Any:
        context = make()
        context.enable_multithreading(False)
        return context

    make_single_threaded.single_threaded = True  # type: ignore[attr-defined]
    mlir.make_ir_context = make_single_threaded  # looked up on the module at each call (jax 0.10)


def _warm_up(cfg: protocol.ExportWorkerConfig) -> None:
    """Import and exercise jax (backend, thread pools, tracing, lowering, serialization) before the filter."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_platforms", "cpu")
    single_threaded_mlir()
    # Filtering a traceback calls os.getcwd(), which seccomp refuses; the worker filters frames itself.
    jax.config.update("jax_traceback_filtering", "off")
    for name in allowlist.NUMPY_ATTRS:
        getattr(jnp, name, None)
    for name in allowlist.NUMPY_LINALG_ATTRS:
        getattr(jnp.linalg, name, None)
    jnp.asarray([1.0, 2.0]).block_until_ready()
    jax.jit(lambda a: jnp.sin(a) * 2)(jnp.ones(3)).block_until_ready()
    trace_and_export(_WARMUP, dataclasses.replace(cfg, fields=(("x", ()),), action_dim=2, max_bytes=1 << 24))


def main() -> None:
    cfg = protocol.decode_config(protocol.ExportWorkerConfig, sys.argv[1])
    die_with_parent(cfg.parent_pid)
    serve(cfg)


def serve(cfg: protocol.ExportWorkerConfig) -> None:
    """Warm up, confine this process, then trace and export the one candidate the parent sends.

    A lone worker (:func:`main`) and one forked by the zygote (:mod:`sandboxes.jax.zygote`, jax
    already imported) both come here.
    """
    warnings.simplefilter("ignore")  # e.g. "explicitly requested dtype float64 ... truncated to float32"
    req, resp = cfg.req_fd, cfg.resp_fd
    _warm_up(cfg)
    limit_resources(cfg.memory_mb, open_files=64)  # after jax made its threads
    layers = ["rlimits"]
    if cfg.seccomp:
        try:
            seccomp.install()
        except seccomp.SeccompUnavailable as exc:
            protocol.send(resp, protocol.ERR, {"kind": "sandbox", "message": f"cannot install seccomp: {exc}"})
            return
        layers.insert(0, "seccomp")
    protocol.send(resp, protocol.HELLO, {"layers": layers})
    try:
        tag, msg = protocol.recv(req)
    except protocol.ChannelClosed:
        return
    if tag != protocol.LOAD:
        return
    try:
        protocol.send(resp, protocol.OK, trace_and_export(str(msg["source"]), cfg))
    except _Fault as fault:
        protocol.send(resp, protocol.ERR, {"kind": fault.kind, "message": fault.message[:4000]})
    except MemoryError:
        protocol.send(resp, protocol.ERR, {"kind": "exception", "message": "MemoryError: out of memory "
                                                                           "(the reward allocates too much memory)"})
    except Exception as exc:  # our tracing machinery failing on odd code is still the candidate's verdict
        protocol.send(resp, protocol.ERR, {"kind": "exception", "message": _describe(exc)[:4000]})


if __name__ == "__main__":
    main()

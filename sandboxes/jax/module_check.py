"""Trainer-side checks of an exported reward module, before the trainer runs a byte of it.

The sandbox (``sandboxes/jax/export.py``) hands over ``jax.export.Exported.serialize()`` bytes. JAX's
own docs say a serialized module "must be trusted input" (it may run any custom call registered in
jaxlib), and JAX's custom-call allow-list runs at *export* time, inside the untrusted process — so a
hostile sandbox can send crafted bytes. :func:`check_exported` deserializes and refuses, with a typed
:class:`ModuleRejected`, anything but a plain, effect-free, single-device StableHLO function of the
task's schema: ``(params {NAME: (b,)}, state {field: (b, *shape)}, action (b, A)) -> (total (b,),
{component: (b,)})``, all float32, ``b`` symbolic; no disabled safety checks; platforms including cpu
(and the one in use); and the rules on its operations in :mod:`sandboxes.jax.module_rules` (no custom
call but ``shape_assertion``, no loop without a static trip count, no branch on data, the same
computation on every platform, size caps).

:class:`ModuleChecker` runs the same check in a child (``python -m sandboxes.jax.module_check``) that
serves a round's modules one after another, so bytes that crash the MLIR parser take down that child,
not the trainer. Given :class:`CallInputs`, the child also compiles the checked module for the training
batch size and bounds its cost there (:mod:`sandboxes.jax.module_cost`: memory, time against a
reference module, determinism), then evaluates it on the inputs' states. The child's address space is
capped (RLIMIT_AS, ``ModuleLimits.memory_mb`` above what jax took at its start): a module that runs it
out of memory is refused and the child exits, so the next check gets a fresh one. Every message is
made terminal-safe here (:func:`core.text.printable`): a module's author chooses its shape-assertion
texts and op names. :func:`check_in_subprocess` is one check in a fresh child. The jax backend's
validation stage that uses it is :mod:`sandboxes.jax.validate`.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import os
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from rewardsmith.core.procs import SharedChild, kill_group, last_line
from rewardsmith.core.state import StateSpec
from rewardsmith.core.text import printable
from rewardsmith.sandboxes.jax.module_rules import ModuleLimits, ModuleRejected, RejectReason, check_stablehlo

if TYPE_CHECKING:
    from jax.export import Exported

__all__ = ["CallInputs", "CheckVerdict", "ModuleChecker", "ModuleLimits", "ModuleRejected", "RejectReason",
           "call_exported", "check_exported", "check_in_subprocess", "check_module"]

_MAX_MESSAGE = 600


def check_exported(blob: bytes, spec: StateSpec, act_dim: int, component_names: Sequence[str],
                   param_names: Sequence[str] = (), limits: ModuleLimits | None = None) -> Exported:
    """Deserialize ``blob`` and check it against the task's schema; return it only if every check passes.

    Raises:
        ModuleRejected: the first check that failed.
    """
    from jax import export

    lim = limits or ModuleLimits()
    if not isinstance(blob, bytes | bytearray) or not blob:
        raise ModuleRejected("malformed", "the module is empty")
    if len(blob) > lim.max_bytes:
        raise ModuleRejected("too_large", f"the module is {len(blob)} bytes; at most {lim.max_bytes} are allowed")
    try:
        exported = export.deserialize(bytearray(blob))
    except Exception as exc:
        raise ModuleRejected("malformed", f"the module does not deserialize: {type(exc).__name__}") from None
    check_module(exported, spec, act_dim, component_names, param_names, lim)
    return exported


def check_module(exported: Exported, spec: StateSpec, act_dim: int, component_names: Sequence[str],
                 param_names: Sequence[str] = (), limits: ModuleLimits | None = None) -> None:
    """The checks of :func:`check_exported` on an already deserialized module."""
    from jax import export

    lim = limits or ModuleLimits()
    if tuple(exported.disabled_safety_checks):
        raise ModuleRejected("safety_checks", f"the module disables safety checks: {exported.disabled_safety_checks}")
    if tuple(exported.ordered_effects) or tuple(exported.unordered_effects):
        raise ModuleRejected("effects", "the module has side effects "
                                        f"({[*exported.ordered_effects, *exported.unordered_effects]})")
    if exported.nr_devices != 1:
        raise ModuleRejected("devices", f"the module is for {exported.nr_devices} devices; expected 1")
    platforms = set(exported.platforms)
    needed = {"cpu", _current_platform()}
    if not needed <= platforms or not platforms <= {"cpu", "cuda", "rocm"}:
        raise ModuleRejected("platforms", f"the module is for {sorted(platforms)}; it must include {sorted(needed)}")
    version = exported.calling_convention_version
    if not (export.minimum_supported_calling_convention_version <= version
            <= export.maximum_supported_calling_convention_version):
        raise ModuleRejected("calling_convention", f"calling convention {version} is not supported here")
    if exported.has_vjp():
        raise ModuleRejected("vjp", "the module carries a derivative module; rewards are exported without one")
    _check_schema(exported, spec, act_dim, component_names, param_names)
    check_stablehlo(exported.mlir_module(), len(exported.platforms) > 1, lim)


def _current_platform() -> str:
    import jax

    backend = jax.default_backend()
    return "cuda" if backend == "gpu" else backend


def _check_schema(exported: Exported, spec: StateSpec, act_dim: int, component_names: Sequence[str],
                  param_names: Sequence[str]) -> None:
    import jax

    leaf = 0
    state = {f.name: leaf for f in spec.fields}
    want_in = jax.tree.structure((({n: leaf for n in param_names}, state, leaf), {}))
    want_out = jax.tree.structure((leaf, {n: leaf for n in component_names}))
    if exported.in_tree != want_in:  # type: ignore[operator]
        raise ModuleRejected("schema", f"the inputs are {exported.in_tree}; expected {want_in}")
    if exported.out_tree != want_out:  # type: ignore[operator]
        raise ModuleRejected("schema", f"the outputs are {exported.out_tree}; expected {want_out}")
    # Leaves in tree order: dict keys sorted, as jax flattens them.
    shapes = {f.name: f.shape for f in spec.fields}
    want_in_shapes = [() for _ in sorted(param_names)] + [shapes[n] for n in sorted(shapes)] + [(act_dim,)]
    want_out_shapes: list[tuple[int, ...]] = [() for _ in range(1 + len(component_names))]
    for what, avals, wanted in (("input", exported.in_avals, want_in_shapes),
                                ("output", exported.out_avals, want_out_shapes)):
        if len(avals) != len(wanted):
            raise ModuleRejected("schema", f"{len(avals)} {what} arrays; expected {len(wanted)}")
        for i, (aval, rest) in enumerate(zip(avals, wanted, strict=True)):
            ok = (str(aval.dtype) == "float32" and len(aval.shape) == 1 + len(rest) and not isinstance(aval.shape[0], int)
                  and str(aval.shape[0]) == "b" and all(type(d) is int and d == r for d, r in zip(aval.shape[1:], rest, strict=True)))
            if not ok:
                raise ModuleRejected("schema", f"{what} {i} is {aval.dtype}{tuple(str(d) for d in aval.shape)}; "
                                               f"expected float32('b', {', '.join(map(str, rest))})")


# -- the checker child ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class CallInputs:
    """What the child calls a checked module on: ``states (N, D)`` and ``actions (N, A)``, ``batch`` at a time."""

    states: np.ndarray
    actions: np.ndarray
    batch: int
    """The training batch size (the task's ``n_envs``): the one the module is compiled for and costed at."""


@dataclass(frozen=True)
class CheckVerdict:
    """What the checker child reported: accepted or why not; for :class:`CallInputs`, the outputs and the cost."""

    accepted: bool
    reason: str
    message: str
    total: np.ndarray | None = None
    components: dict[str, np.ndarray] | None = None
    call_ms: float | None = None
    """One call at the training batch size (the fastest of the timed calls)."""
    reference_ms: float | None = None
    """The trivial reference module's call, timed alongside."""


class ModuleChecker(SharedChild):
    """A checker child (``python -m sandboxes.jax.module_check``) that checks modules one at a time.

    Importing jax costs the child about a second, more than a check itself, so one child serves every
    module of a round (or of a tuning stage) in turn: a line of JSON in, a line out (and, before a module's
    timed calls, a line saying they start: from then on ``limits.call_timeout_s`` bounds the wait, and a
    module still running is refused as ``slow``). Bytes that crash the MLIR parser or hang it take down
    that child only: the module is refused and the next check starts a fresh child; so does a module that
    runs the child out of memory. Sharing the child between candidates exposes nothing the trainer does
    not: the round's job deserializes all of the round's modules in one process too, and the child only
    ever runs a module after the checks passed. Thread-safe (checks queue on a lock); :meth:`start` it
    from the thread that outlives the checks (see :class:`~core.procs.SharedChild`).
    """

    def __init__(self, limits: ModuleLimits | None = None, timeout_s: float = 60.0) -> None:
        super().__init__()
        self.limits = limits or ModuleLimits()
        self.timeout_s = timeout_s
        """Bound on one check before its timed calls (the first includes the child's start and its jax import)."""
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._pending = b""

    def check(self, blob: bytes, spec: StateSpec, component_names: Sequence[str], constants: dict[str, float],
              inputs: CallInputs | None = None) -> CheckVerdict:
        """:func:`check_exported` in the child and, with ``inputs``, the module's cost at ``inputs.batch`` and its
        outputs on ``inputs``' states (with the module's own constants); bounded in time."""
        request = {"blob": base64.b64encode(blob).decode(), "fields": [[f.name, list(f.shape)] for f in spec.fields],
                   "act_dim": spec.action.dim, "components": list(component_names), "constants": constants,
                   "limits": dataclasses.asdict(self.limits), "inputs": None if inputs is None else {
                       "states": _encode(inputs.states, np.float64), "actions": _encode(inputs.actions, np.float64),
                       "batch": int(inputs.batch)}}
        with self._lock:
            verdict = self._ask(json.dumps(request).encode() + b"\n", inputs.batch if inputs else 0,
                                len(inputs.states) if inputs else 0)
        return dataclasses.replace(verdict, message=printable(verdict.message, limit=_MAX_MESSAGE))

    def _ask(self, request: bytes, batch: int, rows: int) -> CheckVerdict:
        """Send one request and read the reply; a dead or late child is killed (and restarted next time)."""
        self._ensure()
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        deadline, calling = time.monotonic() + self.timeout_s, False
        try:
            proc.stdin.write(request)
            proc.stdin.flush()
        except OSError:
            return self._died(calling, batch)
        while True:
            line = self._line(proc, deadline)
            if line is None:
                self._stop()
                if calling:
                    return CheckVerdict(False, "slow", f"one call on {batch} states was still running after "
                                                       f"{self.limits.call_timeout_s:g} s")
                return CheckVerdict(False, "malformed", f"checking the module took longer than {self.timeout_s:g} s")
            if not line:
                return self._died(calling, batch)
            try:
                reply = json.loads(line)
            except ValueError:
                self._stop()
                return CheckVerdict(False, "malformed", "the module checker sent no verdict")
            if reply.get("phase") == "call":  # the timed calls start: they get their own bound
                calling, deadline = True, time.monotonic() + self.limits.call_timeout_s
                continue
            if reply.get("exiting"):
                self._stop()
            return _verdict(reply, rows)

    def _line(self, proc: subprocess.Popen[bytes], deadline: float) -> bytes | None:
        """The child's next line; ``b""`` when it died, None past the deadline."""
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        while b"\n" not in self._pending:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return b""
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        return line

    def _ensure(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            self._stop()
            # One malloc arena per thread would reserve 64 MiB of address space each, against the child's cap.
            env = {"PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0", "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "2",
                   "MALLOC_ARENA_MAX": "2", "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
            self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in _stop
            self._proc = subprocess.Popen(self.command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=self._stderr, start_new_session=True, env=env)
            self._pending = b""

    def command(self) -> list[str]:
        """The child's command line (it dies with this process)."""
        return [sys.executable, "-m", "rewardsmith.sandboxes.jax.module_check", str(os.getpid()),
                str(self.limits.memory_mb)]

    def _died(self, calling: bool, batch: int) -> CheckVerdict:
        proc = self._proc
        assert proc is not None
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=2.0)
        last = last_line(self._stderr)
        self._stop()
        if calling:
            return CheckVerdict(False, "call_failed", f"the module checker died calling the module on {batch} states "
                                                      f"(exit code {proc.returncode}; its memory is capped) {last}"[:300])
        return CheckVerdict(False, "malformed", f"the module checker died (exit code {proc.returncode}) {last}"[:300])

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            kill_group(proc)
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


def _encode(array: np.ndarray, dtype: type) -> dict[str, Any]:
    arr: np.ndarray = np.ascontiguousarray(array, dtype=dtype)
    return {"shape": list(arr.shape), "data": base64.b64encode(arr.tobytes()).decode()}


def _decode(obj: Any, dtype: type, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """An array the other side sent; its size is checked against ``shape`` when given (the child's replies)."""
    want = tuple(obj["shape"]) if shape is None else shape
    raw = base64.b64decode(str(obj["data"]), validate=True)
    if len(raw) != int(np.prod(want, dtype=np.int64)) * np.dtype(dtype).itemsize:
        raise ValueError("array size does not match its shape")
    return np.frombuffer(raw, dtype=dtype).reshape(want).astype(np.float64)


def _verdict(reply: dict[str, Any], rows: int) -> CheckVerdict:
    if not reply.get("accepted"):
        return CheckVerdict(False, str(reply.get("reason", "malformed")), str(reply.get("message", "")))
    if reply.get("total") is None:
        return CheckVerdict(True, "ok", "accepted")
    try:
        total = _decode(reply["total"], np.float32, (rows,))
        comps = {str(k): _decode(v, np.float32, (rows,)) for k, v in reply["components"].items()}
    except (KeyError, TypeError, ValueError, AttributeError):
        return CheckVerdict(False, "malformed", "the module checker sent malformed outputs")
    return CheckVerdict(True, "ok", "accepted", total, comps, float(reply["call_ms"]), float(reply["reference_ms"]))


def check_in_subprocess(blob: bytes, spec: StateSpec, component_names: Sequence[str],
                        constants: dict[str, float], inputs: CallInputs | None = None,
                        limits: ModuleLimits | None = None, timeout_s: float = 60.0) -> CheckVerdict:
    """One check in a fresh child (:class:`ModuleChecker` for one module)."""
    with ModuleChecker(limits, timeout_s) as checker:
        return checker.check(blob, spec, component_names, constants, inputs)


def call_exported(exported: Exported, spec: StateSpec, constants: dict[str, float], states: np.ndarray,
                  actions: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Evaluate a *checked* module on flat ``states (N, D)`` and ``actions (N, A)`` with per-env constants."""
    import jax.numpy as jnp

    n = len(states)
    fields = spec.unpack(np.asarray(states, dtype=np.float64))
    state = {k: jnp.asarray(v, jnp.float32) for k, v in fields.as_dict().items()}
    params = {k: jnp.full((n,), v, jnp.float32) for k, v in constants.items()}
    total, comps = exported.call(params, state, jnp.asarray(actions, jnp.float32))
    return np.asarray(total), {k: np.asarray(v) for k, v in comps.items()}


def _child_main(argv: list[str]) -> None:
    """Serve checks: one JSON request per line on stdin, one JSON verdict per line on stdout, until EOF
    (or until a module ran the child out of memory: its verdict says the child exits)."""
    from rewardsmith.core.procs import die_with_parent
    from rewardsmith.sandboxes.jax.module_cost import ReferenceModules

    die_with_parent(int(argv[0]) if argv else None)
    _cap_memory(int(argv[1]) if len(argv) > 1 else ModuleLimits().memory_mb)
    references = ReferenceModules()
    for line in sys.stdin.buffer:
        reply = _serve_one(json.loads(line), references)
        print(json.dumps(reply), flush=True)
        if reply.get("exiting"):
            return


def _cap_memory(headroom_mb: int) -> None:
    """Cap the address space at what jax takes once started (its thread pools reserve in proportion to the
    machine's cores) plus ``headroom_mb``; no core dumps."""
    import resource

    import jax
    import jax.numpy as jnp

    jax.jit(lambda a: jnp.sin(a) * 2)(jnp.ones(3)).block_until_ready()  # the backend and its threads
    with open("/proc/self/status") as status:
        vm_kb = next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
    limit = vm_kb * 1024 + headroom_mb * (1 << 20)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _serve_one(req: dict[str, Any], references: Any) -> dict[str, Any]:
    from rewardsmith.core.state import ActionSpec, StateField
    from rewardsmith.sandboxes.jax.module_cost import BatchCall

    spec = StateSpec(fields=tuple(StateField(name=n, shape=tuple(s), unit="", doc="") for n, s in req["fields"]),
                     action=ActionSpec(dim=req["act_dim"], doc=""))
    constants = {str(k): float(v) for k, v in req["constants"].items()}
    limits = ModuleLimits(**req["limits"])
    inputs = req["inputs"]
    try:
        exported = check_exported(base64.b64decode(req["blob"]), spec, spec.action.dim, req["components"],
                                  list(constants), limits)
        if inputs is None:
            return {"accepted": True}
        states, actions = _decode(inputs["states"], np.float64), _decode(inputs["actions"], np.float64)
        call = BatchCall(exported, spec, constants, req["components"], int(inputs["batch"]), limits)
        cost = call.cost(states, actions, references, lambda: print(json.dumps({"phase": "call"}), flush=True))
        total, comps = call.evaluate(states, actions)
    except ModuleRejected as rej:
        return {"accepted": False, "reason": rej.reason, "message": rej.message}
    except MemoryError:
        return _out_of_memory("MemoryError")
    except Exception as exc:  # the module failed at the batch size: a shape assertion, an XLA error
        text = _first_line(exc)
        if "RESOURCE_EXHAUSTED" in text:
            return _out_of_memory(text)
        if exc.__cause__ is not None:  # e.g. "Error refining shapes", caused by the failing shape assertion
            text += f" ({_first_line(exc.__cause__)})"
        doing = f"calling the module on {inputs['batch']} states" if inputs else "checking the module"
        return {"accepted": False, "reason": "call_failed",
                "message": f"{doing} failed: {type(exc).__name__}: {text}"[:_MAX_MESSAGE]}
    return {"accepted": True, "total": _encode(total, np.float32), "call_ms": cost.call_ms,
            "reference_ms": cost.reference_ms, "components": {k: _encode(v, np.float32) for k, v in comps.items()}}


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else ""


def _out_of_memory(what: str) -> dict[str, Any]:
    """A module ran the child out of its address space: refuse it, and end this child (the next check gets a
    fresh one)."""
    return {"accepted": False, "reason": "memory", "exiting": True,
            "message": f"the module ran the checker out of memory ({what})"[:_MAX_MESSAGE]}


if __name__ == "__main__":
    _child_main(sys.argv[1:])

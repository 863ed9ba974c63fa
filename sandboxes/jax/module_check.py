"""Trainer-side checks of an exported reward module, before the trainer runs a byte of it.

The sandbox (``sandboxes/jax/export.py``) hands over ``jax.export.Exported.serialize()`` bytes. JAX's
own docs say a serialized module "must be trusted input" (it may run any custom call registered in
jaxlib), and JAX's custom-call allow-list runs at *export* time, inside the untrusted process — so a
hostile sandbox can send crafted bytes. :func:`check_exported` deserializes and refuses, with a typed
:class:`ModuleRejected`, anything but a plain, effect-free, single-device StableHLO function of the
task's schema: ``(params {NAME: (b,)}, state {field: (b, *shape)}, action (b, A)) -> (total (b,),
{component: (b,)})``, all float32, ``b`` symbolic; no disabled safety checks; no ``custom_call``
except ``shape_assertion``; no infeed/outfeed/send/recv or collectives; only ``builtin``/``func``/
``stablehlo`` ops; size and op-count caps; platforms including cpu (and the one in use).

:class:`ModuleChecker` runs the same check in a child (``python -m sandboxes.jax.module_check``) that
serves a round's modules one after another, so bytes that crash the MLIR parser take down that
child, not the trainer; it also evaluates a checked module on probe inputs (:func:`check_in_subprocess`
is one check in a fresh child). The jax backend's validation stage that uses it is :mod:`sandboxes.jax.validate`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Literal

import numpy as np

from rewardsmith.core.procs import SharedChild, kill_group, last_line
from rewardsmith.core.state import StateSpec
from rewardsmith.sandboxes.faults import Fault

if TYPE_CHECKING:
    from jax.export import Exported

RejectReason = Literal["malformed", "too_large", "safety_checks", "effects", "devices", "platforms",
                       "calling_convention", "schema", "custom_call", "op_not_allowed", "too_many_ops", "vjp"]

_DENIED_STABLEHLO = frozenset({
    "infeed", "outfeed", "send", "recv", "all_reduce", "all_gather", "all_to_all", "reduce_scatter",
    "collective_permute", "collective_broadcast", "partition_id", "replica_id", "composite", "rng_bit_generator",
    "optimization_barrier",
})
_ALLOWED_NON_STABLEHLO = frozenset({"builtin.module", "func.func", "func.call", "func.return"})
_ALLOWED_CUSTOM_CALLS = frozenset({"shape_assertion"})


class ModuleRejected(Fault[RejectReason]):
    """The exported module must not be used. ``reason`` is machine-readable; ``message`` is one line."""

    @property
    def reason(self) -> RejectReason:
        return self.kind


@dataclass(frozen=True)
class ModuleLimits:
    """Caps on an exported reward module."""

    max_bytes: int = 512 * 1024
    """Largest serialized module."""
    max_ops: int = 20_000
    """Most MLIR operations in the module (Python loops unroll at trace time)."""


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
    _check_ops(exported.mlir_module(), lim.max_ops)


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


def _check_ops(text: str, max_ops: int) -> None:
    """Walk every MLIR operation: an allow-list of dialects, a deny-list inside StableHLO, custom calls by name."""
    from jax._src.interpreters import mlir as jax_mlir
    from jax._src.lib.mlir import ir

    found: list[str] = []
    bad: list[tuple[RejectReason, str]] = []

    def visit(op: Any) -> Any:
        name = op.name
        found.append(name)
        if name == "stablehlo.custom_call":
            target = ir.StringAttr(op.attributes["call_target_name"]).value
            if target not in _ALLOWED_CUSTOM_CALLS:
                bad.append(("custom_call", f"the module calls custom call {target!r}; only shape_assertion is allowed"))
        elif name.startswith("stablehlo."):
            if name.removeprefix("stablehlo.") in _DENIED_STABLEHLO:
                bad.append(("op_not_allowed", f"the module uses {name}"))
        elif name not in _ALLOWED_NON_STABLEHLO:
            bad.append(("op_not_allowed", f"the module uses {name}; only StableHLO and func operations are allowed"))
        return ir.WalkResult.INTERRUPT if bad or len(found) > max_ops else ir.WalkResult.ADVANCE

    try:
        with jax_mlir.make_ir_context():
            module = ir.Module.parse(text)
            module.operation.walk(visit)
    except Exception as exc:
        raise ModuleRejected("malformed", f"the module's StableHLO does not parse: {type(exc).__name__}") from None
    if bad:
        raise ModuleRejected(*bad[0])
    if len(found) > max_ops:
        raise ModuleRejected("too_many_ops", f"the module has more than {max_ops} operations")


# -- the validator subprocess -----------------------------------------------------------------------
@dataclass(frozen=True)
class CheckVerdict:
    """What the validator child reported: accepted or why not, and outputs on the probe inputs."""

    accepted: bool
    reason: str
    message: str
    total: np.ndarray | None = None
    components: dict[str, np.ndarray] | None = None


class ModuleChecker(SharedChild):
    """A checker child (``python -m sandboxes.jax.module_check``) that checks modules one at a time.

    Importing jax costs the child about a second, more than a check itself, so one child serves every
    module of a round (or of a tuning stage) in turn: a line of JSON in, a line out. Bytes that crash
    the MLIR parser or hang it take down that child only: the module is refused (``malformed``) and
    the next check starts a fresh child. Sharing the child between candidates exposes nothing the
    trainer does not: the round's job deserializes all of the round's modules in one process too, and
    the child only ever runs a module after the checks passed. Thread-safe (checks queue on a lock);
    :meth:`start` it from the thread that outlives the checks (see :class:`~core.procs.SharedChild`).
    """

    def __init__(self, limits: ModuleLimits | None = None, timeout_s: float = 60.0) -> None:
        super().__init__()
        self.limits = limits or ModuleLimits()
        self.timeout_s = timeout_s
        """Bound on one check (the first includes the child's start and its jax import)."""
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._pending = b""

    def check(self, blob: bytes, spec: StateSpec, component_names: Sequence[str], constants: dict[str, float],
              probe: tuple[np.ndarray, np.ndarray] | None = None) -> CheckVerdict:
        """:func:`check_exported` in the child (and, if given, the module on ``probe = (states (N, D),
        actions (N, A))`` with the module's own constants), bounded by ``timeout_s``."""
        lim = self.limits
        request = {"blob": base64.b64encode(blob).decode(), "fields": [[f.name, list(f.shape)] for f in spec.fields],
                   "act_dim": spec.action.dim, "components": list(component_names), "constants": constants,
                   "max_bytes": lim.max_bytes, "max_ops": lim.max_ops,
                   "probe": None if probe is None else [np.asarray(probe[0]).tolist(), np.asarray(probe[1]).tolist()]}
        with self._lock:
            line = self._ask(json.dumps(request).encode() + b"\n")
        if isinstance(line, CheckVerdict):
            return line
        try:
            reply = json.loads(line)
        except ValueError:
            return CheckVerdict(False, "malformed", "the module checker sent no verdict")
        if not reply["accepted"]:
            return CheckVerdict(False, reply["reason"], reply["message"])
        if reply.get("total") is None:
            return CheckVerdict(True, "ok", "accepted")
        comps = {k: np.asarray(v, dtype=np.float64) for k, v in reply["components"].items()}
        return CheckVerdict(True, "ok", "accepted", np.asarray(reply["total"], dtype=np.float64), comps)

    def _ask(self, request: bytes) -> bytes | CheckVerdict:
        """Send one request and read one reply line; a dead or late child is killed (and restarted next time)."""
        self._ensure()
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        deadline = time.monotonic() + self.timeout_s
        try:
            proc.stdin.write(request)
            proc.stdin.flush()
        except OSError:
            return self._died()
        fd = proc.stdout.fileno()
        while b"\n" not in self._pending:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                self._stop()
                return CheckVerdict(False, "malformed", f"checking the module took longer than {self.timeout_s:g} s")
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return self._died()
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        return line

    def _ensure(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            self._stop()
            env = {"PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0", "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "2",
                   "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
            self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in _stop
            self._proc = subprocess.Popen(self.command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=self._stderr, start_new_session=True, env=env)
            self._pending = b""

    def command(self) -> list[str]:
        """The child's command line (it dies with this process)."""
        return [sys.executable, "-m", "rewardsmith.sandboxes.jax.module_check", str(os.getpid())]

    def _died(self) -> CheckVerdict:
        proc = self._proc
        assert proc is not None
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=2.0)
        last = last_line(self._stderr)
        self._stop()
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


def check_in_subprocess(blob: bytes, spec: StateSpec, component_names: Sequence[str],
                        constants: dict[str, float], probe: tuple[np.ndarray, np.ndarray] | None = None,
                        limits: ModuleLimits | None = None, timeout_s: float = 60.0) -> CheckVerdict:
    """One check in a fresh child (:class:`ModuleChecker` for one module)."""
    with ModuleChecker(limits, timeout_s) as checker:
        return checker.check(blob, spec, component_names, constants, probe)


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
    """Serve checks: one JSON request per line on stdin, one JSON verdict per line on stdout, until EOF."""
    from rewardsmith.core.procs import die_with_parent

    die_with_parent(int(argv[0]) if argv else None)
    for line in sys.stdin.buffer:
        print(json.dumps(_serve_one(json.loads(line))), flush=True)


def _serve_one(req: dict[str, Any]) -> dict[str, Any]:
    from rewardsmith.core.state import ActionSpec, StateField

    spec = StateSpec(fields=tuple(StateField(name=n, shape=tuple(s), unit="", doc="") for n, s in req["fields"]),
                     action=ActionSpec(dim=req["act_dim"], doc=""))
    constants = {str(k): float(v) for k, v in req["constants"].items()}
    try:
        exported = check_exported(base64.b64decode(req["blob"]), spec, spec.action.dim, req["components"],
                                  list(constants), ModuleLimits(req["max_bytes"], req["max_ops"]))
    except ModuleRejected as rej:
        return {"accepted": False, "reason": rej.reason, "message": rej.message}
    reply: dict[str, Any] = {"accepted": True}
    if req["probe"] is not None:
        total, comps = call_exported(exported, spec, constants, np.asarray(req["probe"][0]), np.asarray(req["probe"][1]))
        reply.update(total=total.tolist(), components={k: v.tolist() for k, v in comps.items()})
    return reply


if __name__ == "__main__":
    _child_main(sys.argv[1:])

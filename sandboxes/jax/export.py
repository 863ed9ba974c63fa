"""Parent side of the JAX export worker: trace a candidate with ``jax.numpy`` in the sandbox, get bytes back.

:func:`export_reward` starts :mod:`sandboxes.jax.worker` under the same isolation as the numpy reward
worker (bubblewrap + seccomp + rlimits where available, :func:`sandboxes.isolation.detect_isolation`),
hands it the source, and returns the serialized ``jax.export.Exported`` with the component and
constant names. This module does not import jax, and nothing here deserializes the bytes: they are
untrusted until ``sandboxes/jax/module_check.py`` has checked them.

The exported function is ``f(params, state, action) -> (total, components)``:
``params`` ``{NAME: (b,) float32}`` (the lifted ALL_CAPS constants, per env), ``state``
``{field: (b, *shape) float32}``, ``action`` ``(b, act_dim) float32``; ``total`` ``(b,) float32``,
``components`` ``{name: (b,) float32}``; ``b`` is symbolic, platforms ``cpu`` and ``cuda``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import IO, Any, Literal, get_args

from rewardsmith.core.errors import SandboxError
from rewardsmith.core.procs import SharedChild, kill_group, last_line
from rewardsmith.core.state import StateSpec
from rewardsmith.core.text import printable
from rewardsmith.sandboxes import allowlist, protocol
from rewardsmith.sandboxes.faults import Fault
from rewardsmith.sandboxes.isolation import Isolation, detect_isolation

ExportFaultKind = Literal["exception", "timeout", "crash", "bad_output", "not_traceable", "too_large"]
_KINDS: frozenset[str] = frozenset(get_args(ExportFaultKind))
_MAX_MESSAGE = 4000


class ExportFault(Fault[ExportFaultKind]):
    """The candidate could not be traced or exported. ``kind`` says how; ``message`` is for the designer, and
    safe to show on a terminal (:func:`core.text.printable`): the candidate controls its exceptions' text."""

    def __init__(self, kind: ExportFaultKind, message: str) -> None:
        super().__init__(kind, printable(message, limit=_MAX_MESSAGE))


@dataclass(frozen=True)
class ExportLimits:
    """Resource limits for one export worker."""

    memory_mb: int = 4096
    """Address-space limit (RLIMIT_AS); jax and XLA's CPU client reserve more than numpy alone."""
    start_timeout_s: float = 90.0
    """Wall-clock limit for the worker to import jax, warm up and set up its sandbox (our code)."""
    export_timeout_s: float = 30.0
    """Wall-clock limit for running the module's top level, tracing and exporting (the candidate's)."""
    max_bytes: int = 512 * 1024
    """Largest serialized module accepted (it crosses as base64 in one frame of at most 1 MiB)."""


@dataclass(frozen=True)
class ExportedReward:
    """What the sandbox hands back: untrusted bytes plus the names the trainer checks them against."""

    blob: bytes
    """``jax.export.Exported.serialize()``; must pass ``sandboxes.jax.module_check.check_exported`` before use."""
    components: tuple[str, ...]
    """Component names in the candidate's order."""
    constants: dict[str, float] = field(default_factory=dict)
    """Lifted constants, name -> the module's value: the ``params`` input, one ``(b,)`` array each."""
    export_ms: float = 0.0
    sandbox: str = ""


def export_reward(source: str, spec: StateSpec, limits: ExportLimits | None = None,
                  isolation: Isolation | None = None, zygote: ExportZygote | None = None) -> ExportedReward:
    """Trace and export ``compute_reward`` from ``source`` (already statically checked) in a fresh sandbox.

    ``zygote``: where the fresh worker is forked from (jax already imported; its spec, limits and
    isolation then apply); None = a worker started from scratch.

    Raises :class:`ExportFault` for the candidate's faults and :class:`~core.errors.SandboxError`
    when the sandbox itself cannot be started.
    """
    if zygote is not None:
        spec, limits, isolation = zygote.spec, zygote.limits, zygote.isolation
    lim = limits or ExportLimits()
    iso = isolation or detect_isolation()
    started = time.monotonic()
    with _ExportProcess(spec, lim, iso, zygote) as proc:
        reply = proc.export(source)
    return _parse_reply(reply, lim, (time.monotonic() - started) * 1e3, iso.describe())


def _parse_reply(reply: dict[str, Any], lim: ExportLimits, export_ms: float, sandbox: str) -> ExportedReward:
    # The worker is untrusted: every field is type- and size-checked here.
    try:
        blob = base64.b64decode(str(reply.get("blob", "")), validate=True)
    except (binascii.Error, ValueError):
        raise ExportFault("crash", "the export worker sent a malformed module") from None
    if not blob or len(blob) > lim.max_bytes:
        raise ExportFault("too_large", f"the exported reward is {len(blob)} bytes; at most {lim.max_bytes} are allowed")
    names, constants = reply.get("components"), reply.get("constants")
    if not isinstance(names, list) or len(names) > allowlist.MAX_COMPONENTS or not all(
            isinstance(n, str) and n.isidentifier() and len(n) <= allowlist.MAX_COMPONENT_NAME for n in names):
        raise ExportFault("bad_output", "the component names are not a short list of identifiers")
    if not isinstance(constants, dict) or len(constants) > 256 or not all(
            isinstance(k, str) and k.isidentifier() and type(v) in (int, float) and math.isfinite(v)
            for k, v in constants.items()):
        raise ExportFault("crash", "the export worker sent malformed constants")
    return ExportedReward(blob, tuple(names), {k: float(v) for k, v in constants.items()}, export_ms, sandbox)


def _worker_config(spec: StateSpec, lim: ExportLimits, iso: Isolation, req_fd: int, resp_fd: int
                   ) -> protocol.ExportWorkerConfig:
    return protocol.ExportWorkerConfig(
        parent_pid=None if iso.in_pid_namespace else os.getpid(), req_fd=req_fd, resp_fd=resp_fd,
        fields=tuple((f.name, tuple(f.shape)) for f in spec.fields), action_dim=spec.action.dim,
        max_components=allowlist.MAX_COMPONENTS, memory_mb=lim.memory_mb, seccomp=iso.seccomp, max_bytes=lim.max_bytes)


def _start_sandboxed(module: str, cfg: protocol.ExportWorkerConfig, iso: Isolation, fds: tuple[int, ...],
                     stderr: IO[bytes]) -> subprocess.Popen[bytes]:
    argv = iso.wrap([sys.executable, "-s", "-m", module, protocol.encode_config(cfg)])
    # CPU only and few threads: the sandbox never touches a GPU (it lowers for cuda without one).
    env = {**iso.child_env(), "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false",
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    try:
        return subprocess.Popen(argv, pass_fds=fds, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=stderr, start_new_session=True, env=env, cwd="/")
    except OSError as exc:
        raise SandboxError(f"cannot start the jax export {module.rsplit('_', 1)[-1]} ({argv[0]}): {exc}") from exc


class ExportZygote(SharedChild):
    """A sandboxed process with jax imported that forks a fresh export worker per candidate
    (:mod:`sandboxes.jax.zygote`): each export then skips the second it takes to import jax.

    Used as a context manager around a run's validations (or a tuning batch's); thread-safe. Like
    every :class:`~core.procs.SharedChild`, :meth:`start` it from a thread that outlives the exports.
    """

    def __init__(self, spec: StateSpec, limits: ExportLimits | None = None, isolation: Isolation | None = None,
                 request_timeout_s: float = 10.0) -> None:
        super().__init__()
        self.spec, self.limits = spec, limits or ExportLimits()
        self.isolation = isolation or detect_isolation()
        self.request_timeout_s = request_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._ready = False
        """The zygote said hello (it has imported jax)."""
        self.stderr: IO[bytes] | None = None
        """The zygote's and its workers' stderr (for a dead worker's last words)."""

    def spawn(self, req_fd: int, resp_fd: int) -> int:
        """Fork a worker that reads requests from ``req_fd`` and answers on ``resp_fd``; returns its pid (in the zygote's namespace)."""
        with self._lock:
            self._ensure()
            if not self._ready:
                self._hello()  # the first export waits for the zygote's jax import
            reply = self._ask(b"spawn", [req_fd, resp_fd])
        if not reply.startswith("pid ") or not reply[4:].isdigit():
            raise SandboxError(f"the jax export zygote could not fork a worker ({reply[:100]})")
        return int(reply[4:])

    def end(self, pid: int, grace_s: float = 0.0) -> str:
        """Stop worker ``pid`` (after up to ``grace_s`` for it to exit by itself); returns how it ended."""
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                return "gone with the zygote"
            try:
                return self._ask(f"end {pid} {int(grace_s * 1e3)}".encode(), [])
            except SandboxError:
                self._stop()  # an unanswered zygote is not trusted with the next worker
                return "unknown (the zygote did not answer)"

    def _ask(self, msg: bytes, fds: list[int]) -> str:
        assert self._sock is not None
        try:
            socket.send_fds(self._sock, [msg], fds)
            reply = self._sock.recv(256)
        except OSError as exc:  # includes the socket timeout
            raise SandboxError(f"the jax export zygote did not answer: {exc or type(exc).__name__}") from None
        if not reply:
            raise SandboxError("the jax export zygote died")
        return reply.decode(errors="replace")

    def _ensure(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        self._stop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in _stop
        cfg = _worker_config(self.spec, self.limits, self.isolation, theirs.fileno(), theirs.fileno())
        try:
            self._proc = _start_sandboxed("rewardsmith.sandboxes.jax.zygote", cfg, self.isolation,
                                          (theirs.fileno(),), self.stderr)
        finally:
            theirs.close()
        self._sock, self._ready = ours, False

    def _hello(self) -> None:
        assert self._sock is not None
        self._sock.settimeout(self.limits.start_timeout_s)
        try:
            hello = self._sock.recv(64)
        except OSError:
            hello = b""
        if hello != b"hello":
            last = last_line(self.stderr)
            self._stop()
            raise SandboxError(f"the jax export zygote could not be started ({self.isolation.describe()})"
                               + (f": {last}" if last else ""))
        self._sock.settimeout(self.request_timeout_s)
        self._ready = True

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if self._sock is not None:
            self._sock.close()  # end of stream: the zygote kills its workers and exits
            self._sock = None
        if proc is not None:
            kill_group(proc)
        if self.stderr is not None:
            self.stderr.close()
            self.stderr = None


class _ExportProcess:
    """One export worker: started (or forked by the zygote), asked once, killed on exit."""

    def __init__(self, spec: StateSpec, limits: ExportLimits, isolation: Isolation,
                 zygote: ExportZygote | None = None) -> None:
        self.spec, self.limits, self.isolation, self.zygote = spec, limits, isolation, zygote
        self._proc: subprocess.Popen[bytes] | None = None
        self._pid: int | None = None
        """A forked worker's pid, in the zygote's namespace."""
        self._stderr: IO[bytes] | None = tempfile.TemporaryFile() if zygote is None else None  # noqa: SIM115

    def __enter__(self) -> _ExportProcess:
        req_r, self._req = os.pipe()
        self._resp, resp_w = os.pipe()
        try:
            if self.zygote is not None:
                try:
                    self._pid = self.zygote.spawn(req_r, resp_w)
                except SandboxError:  # a zygote that cannot fork costs this export a second, not the run
                    self.zygote = None
                    self._stderr = tempfile.TemporaryFile()  # closed in _kill
            if self.zygote is None:
                assert self._stderr is not None
                cfg = _worker_config(self.spec, self.limits, self.isolation, req_r, resp_w)
                self._proc = _start_sandboxed("rewardsmith.sandboxes.jax.worker", cfg, self.isolation,
                                              (req_r, resp_w), self._stderr)
        except SandboxError:
            self._kill()
            raise
        finally:
            os.close(req_r)
            os.close(resp_w)
        self._hello()
        return self

    def __exit__(self, *exc: object) -> None:
        self._kill()

    def _hello(self) -> None:
        try:
            tag, msg = protocol.recv(self._resp, deadline=time.monotonic() + self.limits.start_timeout_s)
        except (protocol.ChannelTimeout, protocol.ChannelClosed) as exc:
            cause = "it did not start in time" if isinstance(exc, protocol.ChannelTimeout) else self._death_cause()
            self._kill()
            raise SandboxError(f"the jax export worker could not be started ({self.isolation.describe()}): "
                               f"{cause}") from None
        layers = msg.get("layers", [])
        if tag != protocol.HELLO:
            self._kill()
            raise SandboxError("the jax export worker failed to set up its sandbox: "
                               + printable(f"{msg.get('message', tag)!s:.300}"))
        if self.isolation.seccomp and "seccomp" not in layers:
            self._kill()
            raise SandboxError("the jax export worker did not install its seccomp filter")

    def export(self, source: str) -> dict[str, Any]:
        timeout = self.limits.export_timeout_s
        try:
            protocol.send(self._req, protocol.LOAD, {"source": source})
            tag, reply = protocol.recv(self._resp, deadline=time.monotonic() + timeout)
        except protocol.ChannelTimeout:
            raise ExportFault("timeout", f"loading and tracing the module took longer than {timeout:g} s") from None
        except protocol.ProtocolViolation as exc:
            raise ExportFault("crash", f"the export worker sent a malformed reply ({exc})") from None
        except (protocol.ChannelClosed, BrokenPipeError):
            raise ExportFault("crash", f"the export worker died while tracing: {self._death_cause()}") from None
        if tag == protocol.ERR:
            kind = reply.get("kind")
            raise ExportFault(kind if kind in _KINDS else "exception",
                              str(reply.get("message", "unknown error"))[:_MAX_MESSAGE])
        if tag != protocol.OK:
            raise ExportFault("crash", "the export worker sent an unexpected reply")
        return reply

    def _death_cause(self) -> str:
        stderr = self._stderr
        if self.zygote is not None and self._pid is not None:
            pid, self._pid = self._pid, None
            how = self.zygote.end(pid, grace_s=2.0)  # in the same words as below
            stderr = self.zygote.stderr
        else:
            code = None
            if self._proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    code = self._proc.wait(timeout=2.0)
            how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        last = last_line(stderr)
        return how + (f" ({last})" if last else "")

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            kill_group(proc)
        pid, self._pid = self._pid, None
        if pid is not None and self.zygote is not None:
            self.zygote.end(pid)
        for name in ("_req", "_resp"):
            fd = getattr(self, name, None)
            if fd is not None:
                os.close(fd)
                setattr(self, name, None)
        if self._stderr is not None:
            self._stderr.close()

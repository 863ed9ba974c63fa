"""Parent side of a reward worker: start it, call it on batches, enforce timeouts, kill it.

:class:`RewardProcess` is what the probe (validation) and the trainer use; neither ever executes
candidate code in its own process. Faults of the candidate (exceptions, hangs, crashes, malformed
results) are raised as :class:`CandidateFault`, which callers turn into report fields. Every piece of
text the worker sends back (exception messages, prints) is passed through :func:`core.text.printable`
here, so nothing candidate-made reaches a terminal raw. Below the full isolation level a worker is
only started with the explicit opt-in (:func:`sandboxes.isolation.require_full_isolation`).
"""

from __future__ import annotations

import mmap
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, get_args

import numpy as np

from rewardsmith.core.errors import SandboxError
from rewardsmith.core.procs import kill_group
from rewardsmith.core.state import StateSpec
from rewardsmith.core.text import printable
from rewardsmith.sandboxes import allowlist, protocol
from rewardsmith.sandboxes.faults import Fault
from rewardsmith.sandboxes.isolation import Isolation, detect_isolation, require_full_isolation

FaultKind = Literal["exception", "timeout", "crash", "bad_output"]
_FAULT_KINDS: frozenset[str] = frozenset(get_args(FaultKind))
_MAX_PRINTED = 4096
_MAX_MESSAGE = 4000


class CandidateFault(Fault[FaultKind]):
    """The candidate misbehaved in its worker. ``kind`` says how; ``message`` is written for the designer."""


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits for one reward worker."""

    memory_mb: int = 2048
    """Address-space limit (RLIMIT_AS) of the worker."""
    start_timeout_s: float = 60.0
    """Wall-clock limit for the worker to set up its sandbox (our code; generous for loaded machines)."""
    load_timeout_s: float = 10.0
    """Wall-clock limit for starting the worker and executing the module's top level."""
    call_timeout_s: float = 5.0
    """Wall-clock limit for one compute_reward call."""
    max_batch: int = 4096
    """Largest batch one call may carry (sizes the shared memory)."""


@dataclass(frozen=True)
class RewardOutput:
    """One call's result: total ``(B,)``, components ``name -> (B,)``, timing and captured prints."""

    total: np.ndarray
    components: dict[str, np.ndarray]
    call_us: float
    printed: str


class RewardProcess:
    """A running reward worker for one candidate's source code.

    Use as a context manager; :meth:`close` kills the worker's whole process group.

    Args:
        isolation: how to confine the worker (default: the strongest level this machine offers).
        allow_weak_isolation: run even below bubblewrap + seccomp + rlimits. Without it (or
            ``REWARDSMITH_ALLOW_WEAK_SANDBOX=1``), :meth:`start` raises :class:`SandboxError` there.
    """

    def __init__(self, source: str, spec: StateSpec, limits: SandboxLimits | None = None,
                 isolation: Isolation | None = None, allow_weak_isolation: bool = False) -> None:
        self.source = source
        self.spec = spec
        self.limits = limits or SandboxLimits()
        self.isolation = isolation or detect_isolation()
        self.allow_weak_isolation = allow_weak_isolation
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the worker; closed in _kill
        self._names: list[str] | None = None
        self.load_ms = 0.0
        self.load_printed = ""
        self.layers: tuple[str, ...] = ()
        """The layers the worker reported it installed itself (e.g. ``("seccomp", "rlimits")``)."""

    # -- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> RewardProcess:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def start(self) -> None:
        """Spawn the worker, wait for its hello, and load the candidate module.

        Raises :class:`CandidateFault` when the candidate's module fails to load, and
        :class:`~core.errors.SandboxError` when the sandbox itself cannot be set up or is below the
        full level without the opt-in (then nothing is started).
        """
        lim, iso = self.limits, require_full_isolation(self.isolation, self.allow_weak_isolation)
        d, a = self.spec.size, self.spec.action.dim
        in_size = lim.max_batch * (d + a) * 8
        out_size = (protocol.CONTROL_SLOTS + lim.max_batch * (1 + allowlist.MAX_COMPONENTS)) * 8
        in_fd, out_fd = os.memfd_create("rs-in"), os.memfd_create("rs-out")
        os.ftruncate(in_fd, in_size)
        os.ftruncate(out_fd, out_size)
        self._in = np.frombuffer(mmap.mmap(in_fd, in_size), dtype=np.float64)
        out = np.frombuffer(mmap.mmap(out_fd, out_size), dtype=np.float64)
        self._ctl, self._out = out[: protocol.CONTROL_SLOTS], out[protocol.CONTROL_SLOTS:]
        # A read-only open of the same memory for the worker: it can map it, never write it.
        in_ro = os.open(f"/proc/self/fd/{in_fd}", os.O_RDONLY)
        os.close(in_fd)
        req_r, self._req = os.pipe()
        self._resp, resp_w = os.pipe()
        self._poll = select.poll()
        self._poll.register(self._resp, select.POLLIN)
        cfg = protocol.WorkerConfig(
            parent_pid=None if iso.in_pid_namespace else os.getpid(),
            in_fd=in_ro, out_fd=out_fd, req_fd=req_r, resp_fd=resp_w,
            max_batch=lim.max_batch, max_components=allowlist.MAX_COMPONENTS,
            fields=tuple((f.name, tuple(f.shape)) for f in self.spec.fields), state_dim=d, action_dim=a,
            memory_mb=lim.memory_mb, seccomp=iso.seccomp,
        )
        argv = iso.wrap([sys.executable, "-s", "-m", "rewardsmith.sandboxes.worker", protocol.encode_config(cfg)])
        fds = (in_ro, out_fd, req_r, resp_w)
        try:
            self._proc = subprocess.Popen(
                argv, pass_fds=fds, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._stderr,
                start_new_session=True, env=iso.child_env(), cwd="/",
            )
        except OSError as exc:
            os.close(self._req)
            os.close(self._resp)
            self._stderr.close()
            raise SandboxError(f"cannot start the reward worker ({argv[0]}): {exc}") from exc
        finally:
            for fd in fds:
                os.close(fd)
        self._hello(lim.start_timeout_s)
        started = time.monotonic()
        reply = self._request(protocol.LOAD, {"source": self.source}, lim.load_timeout_s,
                              "loading the module (running its top-level code)")
        self.load_ms = (time.monotonic() - started) * 1e3
        self.load_printed = printable(str(reply.get("printed", ""))[:_MAX_PRINTED])

    def _hello(self, timeout_s: float) -> None:
        # Start-up is our code, not the candidate's: a failure here is a SandboxError.
        try:
            tag, msg = protocol.recv(self._resp, deadline=time.monotonic() + timeout_s)
        except (protocol.ChannelTimeout, protocol.ChannelClosed) as exc:
            cause = "it did not start in time" if isinstance(exc, protocol.ChannelTimeout) else self._death_cause()
            self._kill()
            raise SandboxError(f"the reward worker could not be started ({self.isolation.describe()}): {cause}") from None
        if tag != protocol.HELLO:
            self._kill()
            raise SandboxError("the reward worker failed to set up its sandbox: "
                               + printable(f"{msg.get('message', tag)!s:.300}").replace("\n", " "))
        self.layers = tuple(str(x) for x in msg.get("layers", []))
        if self.isolation.seccomp and "seccomp" not in self.layers:
            self._kill()
            raise SandboxError("the reward worker did not install its seccomp filter")

    def close(self) -> None:
        """Ask the worker to exit, then kill its process group whatever it did."""
        if self._proc is not None and self._proc.poll() is None:
            try:
                protocol.send(self._req, protocol.QUIT)
                self._proc.wait(timeout=1.0)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self._kill()

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        kill_group(proc)
        for fd in (self._req, self._resp):
            os.close(fd)
        self._stderr.close()

    # -- calls -----------------------------------------------------------------------------------
    def call(self, state: np.ndarray, action: np.ndarray, timeout_s: float | None = None) -> RewardOutput:
        """Evaluate the reward on ``state (B, D)`` and ``action (B, A)``; results are copies.

        The per-step path: inputs are copied into shared memory, a one-byte doorbell goes each way, and
        a frame follows only when the component names change or the candidate printed something.
        """
        if self._proc is None:
            raise SandboxError("the reward worker is not running")
        batch = state.shape[0]
        lim = self.limits
        if not 0 < batch <= lim.max_batch:
            raise ValueError(f"batch {batch} is outside 1..{lim.max_batch} (the worker's max_batch)")
        d, a = self.spec.size, self.spec.action.dim
        self._in[: batch * d] = state.reshape(-1)
        off = lim.max_batch * d
        self._in[off: off + batch * a] = action.reshape(-1)
        self._ctl[protocol.SLOT_BATCH] = batch
        timeout = timeout_s or lim.call_timeout_s
        # The per-step fast path: one byte out, wait, one byte back; anything else goes the long way.
        try:
            os.write(self._req, protocol.CALL)
            ready = bool(self._poll.poll(timeout * 1e3))
            first = os.read(self._resp, 1) if ready else b""
        except OSError:  # the worker is gone: broken pipe
            ready, first = True, b""
        reply: dict[str, Any] = {}
        if first == protocol.DONE:
            tag = first
        else:
            tag, reply = self._exchange(None, None, timeout, f"computing the reward for {batch} states",
                                        first=first, waited=ready)
        printed = ""
        if tag != protocol.DONE:
            self._names = _component_names(reply.get("components"))
            printed = printable(str(reply.get("printed", ""))[:_MAX_PRINTED])
        if self._names is None:
            raise CandidateFault("bad_output", "the reward worker sent results without component names")
        total = self._out[:batch].copy()
        comps = {n: self._out[(1 + j) * lim.max_batch: (1 + j) * lim.max_batch + batch].copy()
                 for j, n in enumerate(self._names)}
        return RewardOutput(total, comps, float(self._ctl[protocol.SLOT_CALL_US]), printed)

    def _request(self, tag: bytes, payload: dict[str, Any], timeout_s: float, doing: str) -> dict[str, Any]:
        reply_tag, reply = self._exchange(tag, payload, timeout_s, doing)
        if reply_tag != protocol.OK:
            self._kill()
            raise CandidateFault("crash", f"the reward process sent an unexpected reply while {doing}")
        return reply

    def _exchange(self, tag: bytes | None, payload: dict[str, Any] | None, timeout_s: float, doing: str,
                  first: bytes = b"", waited: bool = False) -> tuple[bytes, dict[str, Any]]:
        """Send a frame (or, with ``tag=None``, continue after the fast path read ``first``) and read the reply.

        ``waited`` without a ``first`` byte means the worker closed its end; neither means it timed out.
        """
        if self._proc is None:
            raise SandboxError("the reward worker is not running")
        deadline = time.monotonic() + timeout_s
        try:
            if tag is not None:
                protocol.send(self._req, tag, payload)
                status, reply = protocol.recv(self._resp, deadline=deadline)
            elif first:
                status, reply = protocol.recv_after(self._resp, first, deadline)
            elif waited:
                raise protocol.ChannelClosed("end of stream")
            else:
                raise protocol.ChannelTimeout()
        except protocol.ChannelTimeout:
            self._kill()
            raise CandidateFault("timeout", f"{doing} took longer than {timeout_s:g} s") from None
        except protocol.ProtocolViolation as exc:
            self._kill()
            raise CandidateFault("crash", f"the reward process sent a malformed reply while {doing} ({exc})") from None
        except (protocol.ChannelClosed, BrokenPipeError):
            raise CandidateFault("crash", f"the reward process died while {doing}: {self._death_cause()}") from None
        if status == protocol.ERR:
            kind = reply.get("kind")
            message = printable(str(reply.get("message", "unknown error")), limit=_MAX_MESSAGE)
            raise CandidateFault(kind if kind in _FAULT_KINDS else "exception", message)
        return status, reply

    def _death_cause(self) -> str:
        proc = self._proc
        assert proc is not None
        try:
            code = proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            code = None
        self._stderr.seek(0)
        tail = self._stderr.read()[-600:].decode(errors="replace").strip().splitlines()
        last = printable(tail[-1], limit=300) if tail else ""
        self._kill()
        if code is not None and code < 0:
            return f"killed by signal {signal.Signals(-code).name}" + (f" ({last})" if last else "")
        return f"exit code {code}" + (f" ({last})" if last else "")


def _component_names(value: object) -> list[str]:
    """The worker's component names, checked here too: the worker's side is untrusted."""
    if not isinstance(value, list) or len(value) > allowlist.MAX_COMPONENTS or not all(
            isinstance(n, str) and n.isidentifier() and len(n) <= allowlist.MAX_COMPONENT_NAME for n in value):
        raise CandidateFault("bad_output", "the component names are not a short list of identifiers")
    return value



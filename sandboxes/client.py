"""Parent side of a reward worker: start it, call it on batches, enforce timeouts, kill it.

:class:`RewardProcess` is what the probe (validation) and the trainer use; neither ever executes
candidate code in its own process. Faults of the candidate (exceptions, hangs, crashes, malformed
results) are raised as :class:`CandidateFault`, which callers turn into report fields.
"""

from __future__ import annotations

import contextlib
import json
import mmap
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

import numpy as np

from agent.errors import SandboxError
from envs.state import StateSpec
from sandboxes import policy, protocol
from sandboxes.isolation import Isolation, detect_isolation

FaultKind = Literal["exception", "timeout", "crash", "bad_output"]


class CandidateFault(Exception):
    """The candidate misbehaved. ``kind`` says how; ``message`` is written for the designer."""

    def __init__(self, kind: FaultKind, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind: FaultKind = kind
        self.message = message


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits for one reward worker."""

    memory_mb: int = 2048
    """Address-space limit (RLIMIT_AS) of the worker."""
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
    """

    def __init__(self, source: str, spec: StateSpec, limits: SandboxLimits | None = None,
                 isolation: Isolation | None = None) -> None:
        self.source = source
        self.spec = spec
        self.limits = limits or SandboxLimits()
        self.isolation = isolation or detect_isolation()
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the worker; closed in _kill
        self.load_ms = 0.0

    # -- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> RewardProcess:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def start(self) -> None:
        """Spawn the worker and load the candidate module (raises :class:`CandidateFault`)."""
        lim = self.limits
        d, a = self.spec.size, self.spec.action.dim
        in_size = lim.max_batch * (d + a) * 8
        out_size = lim.max_batch * (1 + policy.MAX_COMPONENTS) * 8
        in_fd, out_fd = os.memfd_create("rs-in"), os.memfd_create("rs-out")
        os.ftruncate(in_fd, in_size)
        os.ftruncate(out_fd, out_size)
        self._in = np.frombuffer(mmap.mmap(in_fd, in_size), dtype=np.float64)
        self._out = np.frombuffer(mmap.mmap(out_fd, out_size), dtype=np.float64)
        req_r, self._req = os.pipe()
        self._resp, resp_w = os.pipe()
        cfg = {
            "parent_pid": os.getpid(), "in_fd": in_fd, "out_fd": out_fd, "req_fd": req_r, "resp_fd": resp_w,
            "max_batch": lim.max_batch, "max_components": policy.MAX_COMPONENTS,
            "fields": [[f.name, list(f.shape)] for f in self.spec.fields], "state_dim": d, "action_dim": a,
            "memory_mb": lim.memory_mb,
        }
        argv = self.isolation.wrap([sys.executable, "-m", "sandboxes.worker", json.dumps(cfg)])
        fds = (in_fd, out_fd, req_r, resp_w)
        try:
            self._proc = subprocess.Popen(
                argv, pass_fds=fds, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._stderr,
                start_new_session=True, env=self.isolation.child_env(), cwd=tempfile.gettempdir(),
            )
        except OSError as exc:
            raise SandboxError(f"cannot start the reward worker ({argv[0]}): {exc}") from exc
        finally:
            for fd in fds:
                os.close(fd)
        started = time.monotonic()
        reply = self._request(protocol.LOAD, {"source": self.source}, lim.load_timeout_s, "loading the module")
        self.load_ms = (time.monotonic() - started) * 1e3
        del reply

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
        _kill_group(proc)
        for fd in (self._req, self._resp):
            os.close(fd)
        self._stderr.close()

    # -- calls -----------------------------------------------------------------------------------
    def call(self, state: np.ndarray, action: np.ndarray, timeout_s: float | None = None) -> RewardOutput:
        """Evaluate the reward on ``state (B, D)`` and ``action (B, A)``; results are copies."""
        batch = state.shape[0]
        lim = self.limits
        if batch > lim.max_batch:
            raise ValueError(f"batch {batch} exceeds the worker's max_batch {lim.max_batch}")
        d, a = self.spec.size, self.spec.action.dim
        self._in[: batch * d] = state.reshape(-1)
        off = lim.max_batch * d
        self._in[off: off + batch * a] = action.reshape(-1)
        reply = self._request(protocol.CALL, {"batch": batch}, timeout_s or lim.call_timeout_s, "computing the reward")
        names = reply["components"]
        total = self._out[:batch].copy()
        comps = {n: self._out[(1 + j) * lim.max_batch: (1 + j) * lim.max_batch + batch].copy()
                 for j, n in enumerate(names)}
        return RewardOutput(total, comps, float(reply["call_us"]), reply["printed"])

    def _request(self, tag: bytes, payload: dict, timeout_s: float, doing: str) -> dict:
        if self._proc is None:
            raise SandboxError("the reward worker is not running")
        try:
            protocol.send(self._req, tag, payload)
            status, reply = protocol.recv(self._resp, deadline=time.monotonic() + timeout_s)
        except protocol.ChannelTimeout:
            self._kill()
            raise CandidateFault("timeout", f"{doing} took longer than {timeout_s:g} s") from None
        except (protocol.ChannelClosed, BrokenPipeError):
            raise CandidateFault("crash", f"the reward process died while {doing}: {self._death_cause()}") from None
        if status == protocol.ERR:
            raise CandidateFault(reply.get("kind", "exception"), reply.get("message", "unknown error"))
        return reply

    def _death_cause(self) -> str:
        proc = self._proc
        assert proc is not None
        try:
            code = proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            code = None
        self._stderr.seek(0)
        tail = self._stderr.read()[-600:].decode(errors="replace").strip().splitlines()
        last = tail[-1] if tail else ""
        self._kill()
        if code is not None and code < 0:
            return f"killed by signal {signal.Signals(-code).name}" + (f" ({last})" if last else "")
        return f"exit code {code}" + (f" ({last})" if last else "")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5.0)

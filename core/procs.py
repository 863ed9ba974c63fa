"""Process helpers for the children RewardSmith starts (training jobs, sandbox workers).

Every child runs in its own session, so a timeout kills its whole process group at once, and dies
with its parent, so a killed orchestrator leaves nothing behind writing into a run directory.
Standard library only: the sandbox worker imports this inside its bubblewrap root.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import threading
from typing import IO, Self

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int | None) -> None:
    """Arm ``PR_SET_PDEATHSIG`` (SIGKILL) and exit at once if the parent is already gone.

    Call it first thing in a child, before heavy imports: the kernel only watches the parent from
    the moment of the ``prctl``. ``parent_pid`` is the pid the parent passed down (``os.getppid()``
    read late would already be the reaper's pid if the parent died in between); ``None`` falls back
    to the parent at call time.
    """
    expected = os.getppid() if parent_pid is None else parent_pid
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != expected:  # the parent died before prctl took effect
        raise SystemExit(1)


def kill_group(proc: subprocess.Popen[bytes], wait_s: float = 5.0) -> None:
    """SIGKILL the child's whole process group (it leads its own session) and reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=wait_s)


def last_line(stream: IO[bytes] | None, limit: int = 600) -> str:
    """The last line a child wrote to ``stream`` (a temporary file holding its stderr), or ``""``."""
    if stream is None:
        return ""
    stream.seek(0, os.SEEK_END)
    stream.seek(max(0, stream.tell() - limit))
    lines = stream.read().decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else ""


class SharedChild:
    """A long-lived helper process that several threads use in turn (one request at a time, on a lock).

    Subclasses start it in :meth:`_ensure` (idempotent: a no-op while it runs, a fresh start after it
    died) and end it in :meth:`_stop`. A child dies with the *thread* that started it
    (``PR_SET_PDEATHSIG``, bubblewrap's ``--die-with-parent``), so call :meth:`start` from a thread
    that outlives the users (not from a pool thread); otherwise it starts with its first use.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Start the child now (it gets ready while the caller goes on)."""
        with self._lock:
            self._ensure()

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _ensure(self) -> None:
        raise NotImplementedError

    def _stop(self) -> None:
        raise NotImplementedError

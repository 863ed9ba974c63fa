"""The JAX export zygote: imports jax once, then forks a fresh export worker for each candidate.

Started by :class:`sandboxes.jax.export.ExportZygote` under the same isolation as a lone export
worker (inside bubblewrap when available). Importing jax takes about a second, seven times what a
worker spends warming up and exporting; forked from here, each worker starts with jax imported.

The zygote never runs candidate code and never initializes a JAX backend (that starts XLA's thread
pools, and a forked child only has the thread that forked): each child does the rest of a lone
worker's start — backend, warm-up, rlimits, seccomp — in :func:`sandboxes.jax.worker.serve`, then
traces one candidate and exits. Before that the child closes every descriptor but its own two pipes,
stderr and ``/dev/null`` on 0 and 1, so it cannot reach the zygote or another worker; under seccomp it cannot open, fork or
signal anything either. Workers are as separate from one another as lone ones are, and a worker
dies with the zygote, which dies with the process that started it.

Control messages arrive on a ``SOCK_SEQPACKET`` socket, one request per packet:

- ``spawn`` with two descriptors (the worker's request pipe and response pipe) → ``pid N``;
- ``end N GRACE_MS`` → waits up to ``GRACE_MS`` for worker ``N`` to exit, kills it otherwise, and
  answers how it ended (``exit code 0``, ``killed by signal 9``, ``still running: killed``) — the
  only way a worker is stopped;
- end of stream → every worker is killed and the zygote exits.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import resource
import signal
import socket
import sys
import time

from rewardsmith.core.procs import die_with_parent
from rewardsmith.sandboxes import protocol

MAX_REQUEST = 256


def _imports() -> None:
    """What a worker would import first: jax and its export machinery (modules only, no backend)."""
    import jax
    import jax.numpy
    from jax import export  # noqa: F401

    from rewardsmith.sandboxes.jax import worker  # noqa: F401

    jax.config.update("jax_platforms", "cpu")


def _child(cfg: protocol.ExportWorkerConfig, zygote: int, req_fd: int, resp_fd: int) -> None:
    """In the forked worker: keep only its own pipes, stderr and /dev/null (0, 1), then serve one export;
    never returns."""
    code = 1
    try:
        _close_all_but({0, 1, 2, req_fd, resp_fd})
        die_with_parent(zygote)
        from rewardsmith.sandboxes.jax import worker as jax_worker

        jax_worker.serve(dataclasses.replace(cfg, parent_pid=zygote, req_fd=req_fd, resp_fd=resp_fd))
        code = 0
    finally:
        os._exit(code)


def _close_all_but(keep: set[int]) -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    top = hard if 0 < hard < (1 << 20) else 1 << 20
    low = 0
    for fd in sorted(keep):
        if fd > low:
            os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, top)


def _describe(status: int) -> str:
    """How a worker ended, in the words the parent uses for a lone worker."""
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit code {os.WEXITSTATUS(status) if os.WIFEXITED(status) else status}"


class _Zygote:
    def __init__(self, cfg: protocol.ExportWorkerConfig, sock: socket.socket) -> None:
        self.cfg, self.sock = cfg, sock
        self.live: set[int] = set()
        """Forked workers not reaped yet (a pid here cannot have been reused)."""

    def serve(self) -> None:
        while True:
            try:
                msg, fds, _flags, _addr = socket.recv_fds(self.sock, MAX_REQUEST, 2)
            except OSError:
                return
            if not msg:
                return
            words = msg.decode(errors="replace").split()
            try:
                reply = self._handle(words, fds)
            finally:
                for fd in fds:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            self.sock.send(reply.encode())

    def _handle(self, words: list[str], fds: list[int]) -> str:
        if words == ["spawn"] and len(fds) == 2:
            me = os.getpid()
            try:
                pid = os.fork()
            except OSError as exc:
                return f"error fork failed: {exc}"
            if pid == 0:
                _child(self.cfg, me, fds[0], fds[1])
            self.live.add(pid)
            return f"pid {pid}"
        if len(words) == 3 and words[0] == "end" and words[1].isdigit() and words[2].isdigit():
            return self._end(int(words[1]), int(words[2]) / 1e3)
        return "error bad request"

    def _end(self, pid: int, grace_s: float) -> str:
        if pid not in self.live:
            return "unknown"
        deadline = time.monotonic() + grace_s
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                self.live.discard(pid)
                return _describe(status)
            if time.monotonic() >= deadline:
                break
            time.sleep(0.02)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)  # a SIGKILLed child is reaped at once
        self.live.discard(pid)
        return "still running: killed"

    def kill_all(self) -> None:
        for pid in self.live:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def main() -> None:
    cfg = protocol.decode_config(protocol.ExportWorkerConfig, sys.argv[1])
    die_with_parent(cfg.parent_pid)
    sock = socket.socket(fileno=cfg.req_fd)  # the control socket (req_fd and resp_fd both name it)
    _imports()
    zygote = _Zygote(cfg, sock)
    sock.send(b"hello")
    try:
        zygote.serve()
    finally:
        zygote.kill_all()


if __name__ == "__main__":
    main()

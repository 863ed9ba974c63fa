"""A task's own fitness function in one bounded child process, scoring a jax round's training episodes.

The jax round needs the task's fitness of its training episodes on the host: the sparse baseline is
paid it at each episode end, and the training curves show it (:mod:`envs.backends.jax.episodes`).
The function is trusted user code but may hang, crash or print, so it runs here, never in the round's
process nor in its compiled program: the child imports it once (in the job's own place, with its
task folder) and scores each batch of episodes it is sent. Each call is bounded inside the child by
:func:`~envs.fitness.compute_fitness`'s deadline (:data:`~envs.fitness.FITNESS_CALL_TIMEOUT_S`), and the
whole batch by the parent's wait (that bound per episode, plus a grace), so a function stuck where no
signal reaches it is still a clear :class:`~core.errors.FitnessError`, not a round that runs out its
timeout and blames its candidates. The child dies with the job.

Wire: parent → child, per batch, an 8-byte big-endian length and a JSON header (each episode's
length and how it ended), then an 8-byte length and the rows, actions and env rewards of every
episode as one float64 buffer (a round sends one batch per rollout, so this stays cheap beside it);
child → parent, one JSON line: ``{"stage": "imported"}`` once, then per batch ``{"values": [...]}`` or
``{"error": "..."}``. The state layout (field names and shapes) is on the child's command line.
Replies go out on a copy of the child's stdout taken at its start; the function's own prints go to
its log (the parent's temporary file).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from rewardsmith.core.errors import FitnessError
from rewardsmith.core.procs import SharedChild, die_with_parent, kill_group, last_line
from rewardsmith.core.state import ActionSpec, StateField, StateSpec
from rewardsmith.envs.backends.jax.episodes import EpisodeRows
from rewardsmith.envs.fitness import FITNESS_CALL_TIMEOUT_S

START_TIMEOUT_S = 60.0
"""Most seconds the child may take to start and import the function (the run checked it once already)."""
GRACE_S = 5.0
"""What a batch may take beyond its calls' bound: sending it, reading it, writing the reply."""


class FitnessChild(SharedChild):
    """The task's fitness function in a child process: call it with a batch of episodes, get their values.

    A :data:`~envs.backends.jax.episodes.Scorer`. Every failure — the function raised, returned no finite
    float, hung, or the child died — is a :class:`FitnessError` (the task's fault), and the child is gone.
    """

    def __init__(self, ref: str, base_dir: Path, spec: StateSpec, call_timeout_s: float = FITNESS_CALL_TIMEOUT_S,
                 grace_s: float = GRACE_S) -> None:
        super().__init__()
        self.ref, self.base_dir, self.spec = ref, base_dir, spec
        self.call_timeout_s, self.grace_s = call_timeout_s, grace_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._pending = b""
        self._imported = False

    def __call__(self, episodes: Sequence[EpisodeRows]) -> list[float]:
        if not episodes:
            return []
        data = _frame(episodes)
        with self._lock:
            self._ensure()
            if not self._imported:
                self._reply(START_TIMEOUT_S, "importing its file")
                self._imported = True
            proc = self._proc
            assert proc is not None and proc.stdin is not None
            try:
                proc.stdin.write(data)
                proc.stdin.flush()
            except OSError:
                raise self._died() from None
            reply = self._reply(self.call_timeout_s * len(episodes) + self.grace_s, f"scoring {len(episodes)} episodes")
        values = reply.get("values")
        if not isinstance(values, list) or len(values) != len(episodes):
            self._stop()
            raise FitnessError(f"fitness function {self.ref!r}: its child process sent {reply!r:.200} for "
                               f"{len(episodes)} episodes")
        return [float(v) for v in values]

    def _reply(self, timeout_s: float, doing: str) -> dict[str, Any]:
        """The child's next reply within ``timeout_s``; raises its error, its death or the deadline."""
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        fd, deadline = proc.stdout.fileno(), time.monotonic() + timeout_s
        while b"\n" not in self._pending:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                self._stop()
                raise FitnessError(f"fitness function {self.ref!r} did not finish {doing} within {timeout_s:g} s")
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise self._died()
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        reply = json.loads(line)
        if "error" in reply:
            self._stop()
            raise FitnessError(str(reply["error"]))
        return dict(reply)

    def _died(self) -> FitnessError:
        proc = self._proc
        assert proc is not None
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=2.0)
        error = FitnessError(f"fitness function {self.ref!r}: its child process died (exit code {proc.returncode}) "
                             f"{last_line(self._log)}"[:400])
        self._stop()
        return error

    def _ensure(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        self._stop()
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in _stop
        layout = json.dumps({"fields": [[f.name, list(f.shape)] for f in self.spec.fields],
                             "act_dim": self.spec.action.dim})
        argv = [sys.executable, "-m", "rewardsmith.envs.backends.jax.scoring", self.ref, str(self.base_dir), layout,
                str(os.getpid()), repr(self.call_timeout_s)]
        # One thread for numpy's BLAS: the round's program has the cores.
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        self._proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
                                      start_new_session=True, env=env)
        self._pending, self._imported = b"", False

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            kill_group(proc)
            with contextlib.suppress(OSError), proc:  # leaving it closes its pipes (a dead child's stdin may not flush)
                pass
        if self._log is not None:
            self._log.close()
            self._log = None


# -- the wire -----------------------------------------------------------------------------------------------
def _frame(episodes: Sequence[EpisodeRows]) -> bytes:
    """One batch as the child reads it (:func:`_unframe`)."""
    header = json.dumps({"lengths": [len(e.env_rewards) for e in episodes],
                         "ends": [[e.terminated, e.truncated] for e in episodes]}).encode()
    arrays = [a for e in episodes for a in (e.rows, e.actions, e.env_rewards)]
    payload = b"".join(np.ascontiguousarray(a, np.float64).tobytes() for a in arrays)
    return len(header).to_bytes(8, "big") + header + len(payload).to_bytes(8, "big") + payload


def _read_exactly(stream: IO[bytes], n: int) -> bytes | None:
    data = stream.read(n)
    return data if len(data) == n else None


def _unframe(stream: IO[bytes], width: int, act_dim: int) -> list[EpisodeRows] | None:
    """The next batch from ``stream`` (rows ``width`` wide), or None at its end."""
    parts = []
    for _ in range(2):
        size = _read_exactly(stream, 8)
        part = _read_exactly(stream, int.from_bytes(size, "big")) if size is not None else None
        if part is None:
            return None
        parts.append(part)
    header, values = json.loads(parts[0]), np.frombuffer(parts[1], np.float64)
    episodes, at = [], 0
    for length, (terminated, truncated) in zip(header["lengths"], header["ends"], strict=True):
        rows = values[at:at + length * width].reshape(length, width)
        at += length * width
        actions = values[at:at + length * act_dim].reshape(length, act_dim)
        at += length * act_dim
        episodes.append(EpisodeRows(rows, actions, values[at:at + length], bool(terminated), bool(truncated)))
        at += length
    return episodes


# -- the child ----------------------------------------------------------------------------------------------
def serve(ref: str, base_dir: Path, spec: StateSpec, call_timeout_s: float, requests: IO[bytes],
          replies: IO[str]) -> int:
    """Import the function, then score each batch from ``requests`` until it ends; 0 at its end, 1 on a failure."""
    from rewardsmith.core.errors import TaskError
    from rewardsmith.envs.fitness import compute_fitness, load_fitness

    def say(record: dict[str, Any]) -> None:
        replies.write(json.dumps(record) + "\n")
        replies.flush()

    try:
        fn = load_fitness(ref, base_dir)
    except TaskError as exc:
        say({"error": " ".join(str(exc).split())})
        return 1
    say({"stage": "imported"})
    while (batch := _unframe(requests, spec.size, spec.action.dim)) is not None:
        try:
            values = [compute_fitness(fn, e.episode(spec), ref, call_timeout_s) for e in batch]
        except FitnessError as exc:
            say({"error": " ".join(str(exc).split())})
            return 1
        say({"values": values})
    return 0


def main(argv: list[str]) -> int:
    """``python -m envs.backends.jax.scoring REF BASE_DIR LAYOUT_JSON PARENT_PID CALL_TIMEOUT_S``."""
    if len(argv) != 5:
        print("usage: python -m envs.backends.jax.scoring REF BASE_DIR LAYOUT_JSON PARENT_PID CALL_TIMEOUT_S",
              file=sys.stderr)
        return 2
    die_with_parent(int(argv[3]))
    layout = json.loads(argv[2])
    spec = StateSpec(fields=tuple(StateField(name=name, shape=tuple(shape), unit="", doc="") for name, shape in layout["fields"]),
                     action=ActionSpec(dim=int(layout["act_dim"]), doc=""))
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # the function's prints go to the log, never into the replies
    sys.stdout = sys.stderr
    return serve(argv[0], Path(argv[1]), spec, float(argv[4]), sys.stdin.buffer, replies)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Wire format between the trusted parent and a reward worker: doorbells and small frames over pipes.

Arrays never cross as messages: states and actions go through a shared-memory region the worker
maps read-only, and results (plus a small control block) come back through a second region.

Every message starts with one byte. A *doorbell* is that byte alone — :data:`CALL` ("the inputs are
in shared memory, compute") and :data:`DONE` ("the results are in shared memory, same component names
as last time, nothing printed"). This is the per-step path during training: one byte each way.
Anything else is a *frame*: an 8-byte header (4-byte tag whose first byte is an upper-case letter,
little-endian payload length) and a UTF-8 JSON payload. Nothing is pickled; the parent treats every
byte the worker sends as untrusted and bounds what it reads.
"""

from __future__ import annotations

import dataclasses
import json
import os
import select
import struct
import time
from dataclasses import dataclass
from typing import Any, TypeVar

_C = TypeVar("_C")

@dataclass(frozen=True, kw_only=True)
class WorkerConfig:
    """What the parent tells a reward worker at start-up (as one JSON argument; trusted, but typed)."""

    parent_pid: int | None
    """The parent's pid for death-with-parent; None inside a pid namespace (bubblewrap kills it there)."""
    in_fd: int
    """Read-only shared memory: states and actions."""
    out_fd: int
    """Shared memory for results and the control block."""
    req_fd: int
    resp_fd: int
    max_batch: int
    max_components: int
    fields: tuple[tuple[str, tuple[int, ...]], ...]
    """The task's state fields: name and per-env shape."""
    state_dim: int
    action_dim: int
    memory_mb: int
    seccomp: bool


@dataclass(frozen=True, kw_only=True)
class ExportWorkerConfig:
    """What the parent tells a JAX export worker at start-up."""

    parent_pid: int | None
    req_fd: int
    resp_fd: int
    fields: tuple[tuple[str, tuple[int, ...]], ...]
    action_dim: int
    max_components: int
    memory_mb: int
    seccomp: bool
    max_bytes: int
    """Largest serialized module the worker may send back."""


def encode_config(config: WorkerConfig | ExportWorkerConfig) -> str:
    return json.dumps(dataclasses.asdict(config))


def decode_config(kind: type[_C], text: str) -> _C:
    """A worker's config from its argument; field shapes come back as tuples."""
    raw = json.loads(text)
    raw["fields"] = tuple((name, tuple(shape)) for name, shape in raw["fields"])
    return kind(**raw)


HEADER = struct.Struct("<4sI")
MAX_PAYLOAD = 1 << 20

# frames
HELLO, LOAD, QUIT = b"HELO", b"LOAD", b"QUIT"
OK, ERR = b"OK  ", b"ERR "
# doorbells
CALL, DONE = b"c", b"k"
_BELLS = frozenset({CALL, DONE})

CONTROL_SLOTS = 4
"""float64 slots at the start of the output region: [batch (parent writes), call_us (worker writes), -, -]."""
SLOT_BATCH, SLOT_CALL_US = 0, 1


class ChannelClosed(Exception):
    """The other side closed its end (it exited or was killed), or sent something malformed."""


class ProtocolViolation(ChannelClosed):
    """The other side sent bytes that are not a valid message (it is still running)."""


class ChannelTimeout(Exception):
    """No complete message arrived before the deadline."""


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def send(fd: int, tag: bytes, payload: dict[str, Any] | None = None) -> None:
    """Send one frame."""
    body = json.dumps(payload or {}, separators=(",", ":")).encode()
    _write_all(fd, HEADER.pack(tag, len(body)) + body)


def ring(fd: int, bell: bytes) -> None:
    """Send a one-byte doorbell."""
    _write_all(fd, bell)


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    chunks: list[bytes] = []
    remaining = n
    while remaining:
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                raise ChannelTimeout()
        chunk = os.read(fd, remaining)
        if not chunk:
            raise ChannelClosed("end of stream")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def recv(fd: int, deadline: float | None = None) -> tuple[bytes, dict[str, Any]]:
    """Read one doorbell or frame; ``deadline`` is a ``time.monotonic()`` value, ``None`` blocks.

    A doorbell comes back as ``(bell, {})``.
    """
    if deadline is None:  # the worker's blocking wait: one read, no select
        first = os.read(fd, 1)
        if not first:
            raise ChannelClosed("end of stream")
    else:
        first = _read_exact(fd, 1, deadline)
    return recv_after(fd, first, deadline)


def recv_after(fd: int, first: bytes, deadline: float | None) -> tuple[bytes, dict[str, Any]]:
    """Like :func:`recv` when the first byte has already been read (the client's fast path)."""
    if first in _BELLS:
        return first, {}
    return _frame_rest(fd, first, deadline)


def _frame_rest(fd: int, first: bytes, deadline: float | None) -> tuple[bytes, dict[str, Any]]:
    if not first.isupper():
        raise ProtocolViolation(f"unexpected byte {first!r}")
    tag, length = HEADER.unpack(first + _read_exact(fd, HEADER.size - 1, deadline))
    if length > MAX_PAYLOAD:
        raise ProtocolViolation(f"frame of {length} bytes exceeds the limit")
    body = _read_exact(fd, length, deadline) if length else b"{}"
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:  # bad UTF-8/JSON, huge ints, deep nesting
        raise ProtocolViolation(f"malformed frame: {type(exc).__name__}") from None
    if not isinstance(payload, dict):
        raise ProtocolViolation("malformed frame: not an object")
    return tag, payload

"""Wire format between the trusted parent and a reward worker: small framed messages over pipes.

Arrays never cross as messages: states and actions go through a shared-memory region the worker
maps read-only, and results come back through a second region. A frame is an 8-byte header
(4-byte tag, little-endian payload length) and a UTF-8 JSON payload. Nothing is pickled.
"""

from __future__ import annotations

import json
import os
import select
import struct
import time
from typing import Any

HEADER = struct.Struct("<4sI")
MAX_PAYLOAD = 1 << 20

LOAD, CALL, QUIT = b"LOAD", b"CALL", b"QUIT"
OK, ERR = b"OK  ", b"ERR "


class ChannelClosed(Exception):
    """The other side closed its end (it exited or was killed)."""


class ChannelTimeout(Exception):
    """No complete frame arrived before the deadline."""


def send(fd: int, tag: bytes, payload: dict[str, Any] | None = None) -> None:
    body = json.dumps(payload or {}, separators=(",", ":")).encode()
    data = HEADER.pack(tag, len(body)) + body
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


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
            raise ChannelClosed()
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def recv(fd: int, deadline: float | None = None) -> tuple[bytes, dict[str, Any]]:
    """Read one frame; ``deadline`` is a ``time.monotonic()`` value, ``None`` blocks."""
    tag, length = HEADER.unpack(_read_exact(fd, HEADER.size, deadline))
    if length > MAX_PAYLOAD:
        raise ChannelClosed(f"frame of {length} bytes exceeds the limit")
    body = _read_exact(fd, length, deadline) if length else b"{}"
    return tag, json.loads(body)

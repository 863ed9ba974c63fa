"""Atomic file writes: every file in a run directory is written to a temporary sibling and renamed.

A reader (the web UI, ``resume``, a person with ``cat``) therefore sees either the old file or the
new one, never half of one, even if the writer is killed mid-write.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import is_dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import TypeAdapter

T = TypeVar("T")


def write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same directory, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a run's files are as readable as any other file
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process's umask, read without changing it (``os.umask`` would, for every thread, for a moment)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def write_text(path: Path, text: str) -> None:
    """Write UTF-8 text atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, value: Any) -> None:
    """Write a JSON document atomically; dataclasses and pydantic models are serialised by pydantic."""
    if is_dataclass(value) and not isinstance(value, type):
        data = TypeAdapter(type(value)).dump_json(value, indent=2)
    elif hasattr(value, "model_dump_json"):
        data = value.model_dump_json(indent=2).encode()
    else:
        data = json.dumps(value, indent=2, sort_keys=True, default=str).encode()
    write_bytes(path, data + b"\n")


def read_record(path: Path, kind: type[T]) -> T:
    """Read a JSON file written by :func:`write_json` back into the typed record ``kind``."""
    return TypeAdapter(kind).validate_json(path.read_bytes())

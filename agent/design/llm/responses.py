"""The response store: every LLM answer kept in the run directory, keyed by a hash of its request.

A request is identified by what determines the answer we asked for: model, messages, sampling
parameters, ``n``, and a *salt* naming its place in the run (round, sample slot, fix attempt), so
that K separate calls with the same prompt are K different entries. ``resume`` and an exact replay
make the same requests in the same order, find them here and pay for none of them again
(litellm's own caches are unusable for this: see the LLM backend note, §2.7).

Layout: ``<run>/responses/<key>.json``, one :class:`StoredCall` each, written atomically.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewardsmith.agent.design.prompting import Message
from rewardsmith.agent.records.results import Usage
from rewardsmith.agent.rundir.store import RunStore
from rewardsmith.core.atomic import read_record, write_json
from rewardsmith.core.errors import RunStoreError


@dataclass(frozen=True)
class CallRequest:
    """What one HTTP call asks the model for (no endpoint, no credentials: those do not change the answer)."""

    model: str
    messages: tuple[Message, ...]
    n: int
    temperature: float
    max_tokens: int | None
    salt: str
    """Where in the run this call belongs, e.g. ``round 2/sample 1`` or ``round 1/cand 3/attempt 2``."""

    @property
    def key(self) -> str:
        # A message's images count by their hashes, and only when it has some: keys made before images existed hold.
        messages = [[m.role, m.content, *([[i.sha256 for i in m.images]] if m.images else [])] for m in self.messages]
        payload = {"model": self.model, "messages": messages, "n": self.n,
                   "temperature": self.temperature, "max_tokens": self.max_tokens, "salt": self.salt}
        blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class StoredCall:
    """One answered call: the request, the choices' text, what it cost, and the raw response body."""

    key: str
    request: CallRequest
    texts: tuple[str, ...]
    """One per returned choice (possibly fewer than ``request.n``); a refusal's text when content was empty."""
    finish_reasons: tuple[str | None, ...]
    usage: Usage
    created: str
    raw: dict[str, Any] = field(default_factory=dict)
    """The provider's response body as litellm parsed it, for audit."""


class ResponseStore:
    """Read and write :class:`StoredCall` s under one directory; keeps a running total of usage."""

    def __init__(self, root: Path, fallback: ResponseStore | None = None) -> None:
        self.root = root
        self.fallback = fallback
        """A read-only store consulted on a miss (replaying another run); hits are copied into ``root``."""
        self._lock = threading.Lock()
        self._total: tuple[int, Usage] | None = None
        """The usage total and the directory's mtime it was summed at (another store object may write here)."""

    @classmethod
    def for_run(cls, run_dir: Path) -> ResponseStore:
        return cls(RunStore(run_dir).responses_dir)  # the run directory's layout is the store's

    @classmethod
    def critic_for_run(cls, run_dir: Path) -> ResponseStore:
        """The critic's answers in the run (kept apart: its tokens are counted apart from the designer's)."""
        return cls(RunStore(run_dir).critic_responses_dir)

    def get(self, request: CallRequest) -> StoredCall | None:
        path = self.root / f"{request.key}.json"
        if path.is_file():
            return _read(path)
        if self.fallback is not None:
            found = self.fallback.get(request)
            if found is not None:
                self.put(found)
            return found
        return None

    def put(self, call: StoredCall) -> None:
        write_json(self.root / f"{call.key}.json", call)
        with self._lock:
            if self._total is not None:
                self._total = (self._mtime(), self._total[1] + call.usage)

    def calls(self) -> list[StoredCall]:
        if not self.root.is_dir():
            return []
        return [_read(p) for p in sorted(self.root.glob("*.json"))]

    def total(self) -> Usage:
        """Usage summed over every stored call: what the run has paid so far, across resumes."""
        with self._lock:
            mtime = self._mtime()
            if self._total is None or self._total[0] != mtime:  # first read, or written by another store object
                total = Usage()
                for call in self.calls():
                    total = total + call.usage
                self._total = (mtime, total)
            return self._total[1]

    def _mtime(self) -> int:
        try:
            return self.root.stat().st_mtime_ns
        except FileNotFoundError:
            return -1


def _read(path: Path) -> StoredCall:
    try:
        return read_record(path, StoredCall)
    except ValueError as exc:
        raise RunStoreError(f"{path}: unreadable stored response ({str(exc).splitlines()[0]})") from None

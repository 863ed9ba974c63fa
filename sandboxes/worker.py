"""The reward worker: a separate process that loads one candidate's code and evaluates it on request.

Started by :class:`sandboxes.client.RewardProcess`; never imported by the trainer or the evaluator.
Before any candidate code runs it limits its own resources (memory, file size, open files, core
dumps), arranges to die with its parent, and pre-imports everything the candidate may use. Inputs
are read-only views of shared memory, so the candidate cannot change the states it is given.
"""

from __future__ import annotations

import ctypes
import json
import math
import mmap
import os
import resource
import signal
import sys
import time
import traceback
from typing import Any

import numpy as np
import numpy.linalg

from envs.state import StateBatch
from sandboxes import policy, protocol

_FILENAME = "reward.py"
_MAX_PRINT = 4096


def _die_with_parent(parent_pid: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        raise SystemExit(1)


def _limit_resources(memory_mb: int) -> None:
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (32, 32))


class _Printer:
    """Stands in for ``print``: keeps at most a few KB of what the candidate prints."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.dropped = 0

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        text = " ".join(str(a) for a in args) + "\n"
        if self.size + len(text) > _MAX_PRINT:
            self.dropped += len(text)
            return
        self.parts.append(text)
        self.size += len(text)

    def take(self) -> str:
        out = "".join(self.parts)
        self.parts, self.size = [], 0
        return out


def _restricted_import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:
    if level or name not in policy.ALLOWED_IMPORTS:
        raise ImportError(f"import of {name!r} is not allowed")
    return __import__(name, globals, locals, fromlist, level)


def _candidate_globals(printer: _Printer) -> dict[str, Any]:
    import builtins

    safe = {n: getattr(builtins, n) for n in policy.SAFE_BUILTINS if hasattr(builtins, n)}
    safe["print"] = printer
    safe["__import__"] = _restricted_import
    return {"__builtins__": safe, "__name__": "reward"}


def describe_exception(exc: BaseException, source_lines: list[str]) -> str:
    """``line N, in f: <code>`` for each frame inside the candidate, then ``Type: message``."""
    where = []
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == _FILENAME and frame.lineno:
            code = source_lines[frame.lineno - 1].strip() if frame.lineno <= len(source_lines) else ""
            where.append(f"line {frame.lineno}, in {frame.name}: {code}")
    head = "\n".join(where[-3:])
    return (head + "\n" if head else "") + f"{type(exc).__name__}: {exc}"[:2000]


class _Worker:
    def __init__(self, cfg: dict[str, Any]) -> None:
        self.req, self.resp = cfg["req_fd"], cfg["resp_fd"]
        self.max_batch: int = cfg["max_batch"]
        self.max_components: int = cfg["max_components"]
        self.fields: list[tuple[str, list[int]]] = cfg["fields"]
        self.state_dim: int = cfg["state_dim"]
        self.action_dim: int = cfg["action_dim"]
        in_size = self.max_batch * (self.state_dim + self.action_dim) * 8
        out_size = self.max_batch * (1 + self.max_components) * 8
        self.in_map = mmap.mmap(cfg["in_fd"], in_size, prot=mmap.PROT_READ)
        self.out_map = mmap.mmap(cfg["out_fd"], out_size)
        self.inp = np.frombuffer(self.in_map, dtype=np.float64)
        self.out = np.frombuffer(self.out_map, dtype=np.float64)
        self.printer = _Printer()
        self.fn: Any = None
        self.source_lines: list[str] = []

    def serve(self) -> None:
        while True:
            try:
                tag, msg = protocol.recv(self.req)
            except protocol.ChannelClosed:
                return
            if tag == protocol.QUIT:
                return
            handler = self.load if tag == protocol.LOAD else self.call
            try:
                reply = handler(msg)
            except MemoryError:
                protocol.send(self.resp, protocol.ERR, {"kind": "exception", "message": "MemoryError: out of memory"})
            except RecursionError as exc:
                protocol.send(self.resp, protocol.ERR, {"kind": "exception", "message": f"RecursionError: {exc}"})
            except _CandidateFault as fault:
                protocol.send(self.resp, protocol.ERR, {"kind": fault.kind, "message": fault.message})
            else:
                protocol.send(self.resp, protocol.OK, reply)

    def load(self, msg: dict[str, Any]) -> dict[str, Any]:
        source: str = msg["source"]
        self.source_lines = source.splitlines()
        namespace = _candidate_globals(self.printer)
        started = time.perf_counter()
        try:
            exec(compile(source, _FILENAME, "exec"), namespace)
        except Exception as exc:
            raise _CandidateFault("exception", "while loading the module: " + describe_exception(exc, self.source_lines)) from None
        fn = namespace.get("compute_reward")
        if not callable(fn):
            raise _CandidateFault("bad_output", "the module defines no function compute_reward(state, action)")
        self.fn = fn
        return {"load_ms": (time.perf_counter() - started) * 1e3, "printed": self.printer.take()}

    def call(self, msg: dict[str, Any]) -> dict[str, Any]:
        batch = int(msg["batch"])
        if self.fn is None or not 0 < batch <= self.max_batch:
            raise _CandidateFault("bad_output", "call before load or batch out of range")
        flat = self.inp[: batch * self.state_dim].reshape(batch, self.state_dim)
        off = self.max_batch * self.state_dim
        action = self.inp[off: off + batch * self.action_dim].reshape(batch, self.action_dim)
        views, col = {}, 0
        for name, shape in self.fields:
            size = math.prod(shape)
            views[name] = flat[:, col: col + size].reshape(batch, *shape)
            col += size
        state = StateBatch(views)
        started = time.perf_counter()
        try:
            result = self.fn(state, action)
        except Exception as exc:
            raise _CandidateFault("exception", describe_exception(exc, self.source_lines)) from None
        call_us = (time.perf_counter() - started) * 1e6
        names = self._store(result, batch)
        return {"components": names, "call_us": call_us, "printed": self.printer.take()}

    def _store(self, result: Any, batch: int) -> list[str]:
        if not (isinstance(result, tuple) and len(result) == 2):
            raise _CandidateFault("bad_output", "compute_reward must return a tuple (total, components), "
                                  f"got {type(result).__name__}")
        total, comps = result
        if not isinstance(comps, dict):
            raise _CandidateFault("bad_output", f"the second value returned must be a dict of components, got {type(comps).__name__}")
        if len(comps) > self.max_components:
            raise _CandidateFault("bad_output", f"{len(comps)} components; at most {self.max_components} are allowed")
        self.out[:batch] = _as_batch("total reward", total, batch)
        names = []
        for j, (name, value) in enumerate(comps.items()):
            if not isinstance(name, str) or not name.isidentifier() or len(name) > 48:
                raise _CandidateFault("bad_output", f"component names must be short identifiers, got {name!r}"[:200])
            start = (1 + j) * self.max_batch
            self.out[start: start + batch] = _as_batch(f"component {name!r}", value, batch)
            names.append(name)
        return names


class _CandidateFault(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind, self.message = kind, message


def _as_batch(what: str, value: Any, batch: int) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise _CandidateFault("bad_output", f"{what} has dtype {arr.dtype}; expected real numbers")
    if arr.shape != (batch,):
        raise _CandidateFault("bad_output", f"{what} has shape {arr.shape}; expected ({batch},), one value per environment")
    return arr.astype(np.float64, copy=False)


def main() -> None:
    cfg = json.loads(sys.argv[1])
    _die_with_parent(cfg["parent_pid"])
    worker = _Worker(cfg)
    _limit_resources(cfg["memory_mb"])
    worker.serve()


if __name__ == "__main__":
    main()

"""The reward worker: a separate process that loads one candidate's code and evaluates it on request.

Started by :class:`sandboxes.client.RewardProcess` (inside bubblewrap when available); never imported
by the trainer or the evaluator. Before any candidate code runs it arranges to die with its parent,
imports and warms up everything the candidate may use (numpy, ``numpy.linalg/random/fft``, math),
maps its shared memory (inputs read-only), limits its resources (memory, file size, open files,
processes, core dumps), installs the seccomp allow-list, and only then says hello. The candidate's
module is executed with a small set of builtins and an import hook limited to numpy/math/typing —
a convenience that gives clear errors, not the security boundary (that is the OS layers).
"""

from __future__ import annotations

import linecache
import math
import mmap
import os
import resource
import sys
import time
import traceback
import typing  # noqa: F401 - pre-imported for candidates (``import typing``)
from typing import Any

# numpy.fft/linalg/random are imported here because nothing can be loaded from files once seccomp is on.
import numpy as np
import numpy.fft
import numpy.linalg
import numpy.random

from rewardsmith.core.procs import die_with_parent
from rewardsmith.core.state import StateBatch
from rewardsmith.sandboxes import allowlist, protocol, seccomp

_FILENAME = "reward.py"
_MAX_PRINT = 4096


def _preload() -> None:
    """Import and exercise what candidates use, so nothing needs a file once seccomp is on."""
    for name in allowlist.NUMPY_ATTRS:
        getattr(np, name, None)
    for name in allowlist.NUMPY_LINALG_ATTRS:
        getattr(np.linalg, name, None)
    for name in allowlist.MATH_ATTRS:
        getattr(math, name, None)
    x = np.linspace(-1.0, 1.0, 8)
    with np.errstate(all="ignore"):
        np.log(x)
        x / 0.0
    np.percentile(x, 50.0), np.median(x), np.einsum("i,i->", x, x), np.clip(x, 0, 1), np.sort(x)
    np.linalg.norm(x), np.linalg.inv(np.eye(3)), np.linalg.solve(np.eye(2), np.ones(2)), np.linalg.det(np.eye(2))
    str(x), repr(np.float64(1.5)), f"{np.float64(2.0):.3f}", str(np.ones((2, 2), dtype=np.float32))
    np.interp(0.5, x, x), np.unwrap(x), np.gradient(x), np.cross(np.ones(3), np.ones(3)), np.diff(x)
    m = x.reshape(2, 4)
    m.sum(axis=1), m.mean(axis=0), m.std(), m.var(), m.max(axis=1), m.min(), m.prod(), m.any(), m.all()
    m.clip(0, 1), m.astype(np.float32).round(2), m.T.copy(), m.cumsum(axis=1), m.argmax(axis=1)
    traceback.extract_tb(None)


def limit_resources(memory_mb: int, open_files: int = 32) -> None:
    """The worker's rlimits: address space, 1 MiB files, no core dumps, few descriptors, no new processes.

    Called once the worker has made every thread it needs: ``RLIMIT_NPROC`` also stops new threads.
    """
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))
    if os.getuid() != 0:  # root ignores RLIMIT_NPROC (and counting all of root's processes misleads)
        resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))


class _Printer:
    """Stands in for ``print``: keeps at most a few KB of what the candidate prints."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.dropped = 0

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        text = " ".join(str(a) for a in args)[:_MAX_PRINT] + "\n"
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
    # numpy's C code imports its own helpers lazily (``arr.sum(axis=1)`` imports numpy._core._methods)
    # through the builtins of the calling frame, which are these; they were loaded before seccomp.
    internal = name.startswith("numpy.") and name in sys.modules
    if level or not (name in allowlist.ALLOWED_IMPORTS or internal):
        raise ImportError(f"import of {name!r} is not allowed")
    return __import__(name, globals, locals, fromlist, level)


def _candidate_globals(printer: _Printer) -> dict[str, Any]:
    import builtins

    safe = {n: getattr(builtins, n) for n in allowlist.SAFE_BUILTINS if hasattr(builtins, n)}
    safe["print"] = printer
    safe["__import__"] = _restricted_import
    return {"__builtins__": safe, "__name__": "reward"}


def describe_exception(exc: BaseException) -> str:
    """``line N, in f: <code>`` for the last frames inside the candidate, then ``Type: message``."""
    advice = {MemoryError: " (the reward allocates too much memory)",
              RecursionError: " (a function calls itself without end)"}
    hint = advice.get(type(exc), "") if isinstance(exc, Exception) else ""
    try:
        where = [f"line {frame.lineno}, in {frame.name}: {(frame.line or '').strip()}"
                 for frame in traceback.extract_tb(exc.__traceback__) if frame.filename == _FILENAME][-3:]
    except MemoryError:  # too little memory left even to describe where
        where = []
    head = "\n".join(where)
    return (head + "\n" if head else "") + f"{type(exc).__name__}: {exc}"[:2000] + hint


class _CandidateFault(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind, self.message = kind, message


class _Worker:
    def __init__(self, cfg: protocol.WorkerConfig) -> None:
        self.req, self.resp = cfg.req_fd, cfg.resp_fd
        self.max_batch = cfg.max_batch
        self.max_components = cfg.max_components
        self.fields = cfg.fields
        self.state_dim = cfg.state_dim
        self.action_dim = cfg.action_dim
        in_size = self.max_batch * (self.state_dim + self.action_dim) * 8
        out_size = (protocol.CONTROL_SLOTS + self.max_batch * (1 + self.max_components)) * 8
        # The input fd was opened read-only by the parent, so not even mprotect can make it writable.
        self.inp = np.frombuffer(mmap.mmap(cfg.in_fd, in_size, prot=mmap.PROT_READ), dtype=np.float64)
        out = np.frombuffer(mmap.mmap(cfg.out_fd, out_size), dtype=np.float64)
        self.ctl, self.out = out[: protocol.CONTROL_SLOTS], out[protocol.CONTROL_SLOTS:]
        os.close(cfg.in_fd)
        os.close(cfg.out_fd)
        self.printer = _Printer()
        self.fn: Any = None
        self.last_names: list[str] | None = None
        self._views: dict[int, tuple[StateBatch, np.ndarray]] = {}

    def serve(self) -> None:
        while True:
            try:
                tag, msg = protocol.recv(self.req)
            except protocol.ChannelClosed:
                return
            if tag == protocol.QUIT:
                return
            try:
                if tag == protocol.CALL:
                    self.call()
                elif tag == protocol.LOAD:
                    protocol.send(self.resp, protocol.OK, self.load(msg))
                else:
                    raise _CandidateFault("bad_output", f"unknown request {tag!r}")
            except MemoryError:
                protocol.send(self.resp, protocol.ERR, {"kind": "exception", "message": "MemoryError: out of memory "
                              "(the reward allocates too much memory)"})
            except _CandidateFault as fault:
                protocol.send(self.resp, protocol.ERR, {"kind": fault.kind, "message": fault.message})

    def load(self, msg: dict[str, Any]) -> dict[str, Any]:
        source: str = msg["source"]
        # Tracebacks read the candidate's lines from here, not from a file (there is none to open).
        linecache.cache[_FILENAME] = (len(source), None, source.splitlines(keepends=True), _FILENAME)
        namespace = _candidate_globals(self.printer)
        started = time.perf_counter()
        try:
            exec(compile(source, _FILENAME, "exec"), namespace)
        except Exception as exc:
            raise _CandidateFault("exception", "while loading the module: " + describe_exception(exc)) from None
        fn = namespace.get("compute_reward")
        if not callable(fn):
            raise _CandidateFault("bad_output", "the module defines no function compute_reward(state, action)")
        self.fn = fn
        return {"load_ms": (time.perf_counter() - started) * 1e3, "printed": self.printer.take()}

    def _inputs(self, batch: int) -> tuple[StateBatch, np.ndarray]:
        # Views of the read-only input region, cached per batch size (they cannot be written through).
        cached = self._views.get(batch)
        if cached is None:
            flat = self.inp[: batch * self.state_dim].reshape(batch, self.state_dim)
            off = self.max_batch * self.state_dim
            action = self.inp[off: off + batch * self.action_dim].reshape(batch, self.action_dim)
            views, col = {}, 0
            for name, shape in self.fields:
                size = math.prod(shape)
                views[name] = flat[:, col: col + size].reshape(batch, *shape)
                col += size
            cached = self._views[batch] = (StateBatch(views), action)
        return cached

    def call(self) -> None:
        batch = int(self.ctl[protocol.SLOT_BATCH])
        if self.fn is None or not 0 < batch <= self.max_batch:
            raise _CandidateFault("bad_output", "call before load or batch out of range")
        state, action = self._inputs(batch)
        started = time.perf_counter()
        try:
            result = self.fn(state, action)
        except Exception as exc:
            raise _CandidateFault("exception", describe_exception(exc)) from None
        call_us = (time.perf_counter() - started) * 1e6
        names = self._store(result, batch)
        self.ctl[protocol.SLOT_CALL_US] = call_us
        if names == self.last_names and not self.printer.parts:
            os.write(self.resp, protocol.DONE)
        else:
            self.last_names = names
            protocol.send(self.resp, protocol.OK, {"components": names, "printed": self.printer.take()})

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
            if not isinstance(name, str) or not name.isidentifier() or len(name) > allowlist.MAX_COMPONENT_NAME:
                raise _CandidateFault("bad_output", f"component names must be short identifiers, got {name!r}"[:200])
            start = (1 + j) * self.max_batch
            self.out[start: start + batch] = _as_batch(f"component {name!r}", value, batch)
            names.append(name)
        return names


def _as_batch(what: str, value: Any, batch: int) -> np.ndarray:
    """``value`` as a ``(batch,)`` array of plain bool/int/float numbers, or a bad_output fault.

    The static check cannot see every dtype (``np.array([x, None])`` is an object array nobody asked
    for), so results are checked here: only kinds ``b i u f`` are copied out, never object, void,
    structured, string or complex arrays.
    """
    if type(value) is np.ndarray and value.shape == (batch,) and value.dtype.kind in allowlist.DTYPE_KINDS:
        return value  # the common case, without conversions (the copy into shared memory converts)
    try:
        arr = np.asarray(value)
    except Exception as exc:
        raise _CandidateFault("bad_output", f"{what} is not an array: {type(exc).__name__}") from None
    if arr.dtype.kind not in allowlist.DTYPE_KINDS or arr.dtype.names is not None:
        raise _CandidateFault("bad_output", f"{what} has dtype {arr.dtype}; expected real numbers (a bool, int or "
                                            "float array; object, void, structured, string and complex are refused)")
    if arr.shape != (batch,):
        raise _CandidateFault("bad_output", f"{what} has shape {arr.shape}; expected ({batch},), one value per environment")
    return arr


def main() -> None:
    cfg = protocol.decode_config(protocol.WorkerConfig, sys.argv[1])
    die_with_parent(cfg.parent_pid)
    _preload()
    worker = _Worker(cfg)
    limit_resources(cfg.memory_mb)
    layers = ["rlimits"]
    if cfg.seccomp:
        try:
            seccomp.install()
        except seccomp.SeccompUnavailable as exc:
            protocol.send(worker.resp, protocol.ERR, {"kind": "sandbox", "message": f"cannot install seccomp: {exc}"})
            return
        layers.insert(0, "seccomp")
    protocol.send(worker.resp, protocol.HELLO, {"layers": layers})
    worker.serve()


if __name__ == "__main__":
    main()

"""State adapters: read an environment's post-step state into named, batch-first fields.

An adapter owns the :class:`~core.state.StateSpec` of one Gymnasium environment id and knows how to
build the environment and read one flat state row from it after each step. The registry maps
environment ids to adapters; a user task file may name its own adapter as ``"path.py:ClassName"``
(:func:`load_user_adapter`: user code, checked in a bounded child before it is imported here).
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from rewardsmith.core.errors import TaskError
from rewardsmith.core.procs import die_with_parent, kill_group
from rewardsmith.core.state import StateSpec


class StateAdapter(ABC):
    """Reads named state fields from one (unwrapped or wrapped) Gymnasium environment."""

    env_id: str
    spec: StateSpec

    def make_env(self, render_mode: str | None = None, **kwargs: Any) -> gym.Env:
        """Build the environment; termination and reset stay the environment's own."""
        return gym.make(self.env_id, render_mode=render_mode, **kwargs)

    @abstractmethod
    def read(self, env: gym.Env, obs: np.ndarray) -> np.ndarray:
        """Return the post-step state as a flat float64 row of length ``spec.size``.

        Called right after ``env.step`` (or ``reset``) and before any automatic reset, so on the
        last step of an episode it sees the terminal state.
        """

    def action_row(self, action: Any) -> np.ndarray:
        """The action as the reward sees it: a float64 row of length ``spec.action.dim``."""
        return np.asarray(action, dtype=np.float64).reshape(self.spec.action.dim)


# -- a user's adapter (``adapter = "file.py:ClassName"`` in a task file) ----------------------------
ADAPTER_IMPORT_TIMEOUT_S = 60.0
"""Importing a user's adapter module and making its class, tried in a child first, must take less than this."""


def load_user_adapter(file: Path, cls_name: str, timeout_s: float | None = None) -> StateAdapter:
    """Import ``cls_name`` from the user's ``file`` and make one; every problem is a one-line :class:`TaskError`.

    The module is user code that may hang at import (a loop, a blocking read, a deadlock in an
    extension), and the orchestrator must import it to read its fields and make its environment. So it
    is imported and instantiated first in a child process under ``timeout_s`` (own session, killed
    with its whole group at the deadline, dead with its parent), as the fitness check does
    (:func:`envs.fitness.check_fitness_file`); only a module that passed is imported here. A deadline
    in this process (``SIGALRM``) would miss a hang in C code and works only in the main thread. The
    check is done once per file version in a process. ``timeout_s``: :data:`ADAPTER_IMPORT_TIMEOUT_S` unless given.
    """
    if file.suffix != ".py":
        raise TaskError(f"expected a Python file 'file.py:ClassName', got {file.name!r} (not a .py file)")
    if not file.is_file():
        raise TaskError(f"file {file} does not exist")
    stat = file.stat()
    _checked_in_child(str(file), stat.st_mtime_ns, stat.st_size, cls_name,
                      ADAPTER_IMPORT_TIMEOUT_S if timeout_s is None else timeout_s)
    return _make_adapter(file, cls_name)


@functools.cache
def _checked_in_child(file: str, mtime_ns: int, size: int, cls_name: str, timeout_s: float) -> None:
    """Import and instantiate the adapter in a bounded child (cached per file version: the check costs a process)."""
    with tempfile.TemporaryDirectory(prefix="rewardsmith-adapter-") as tmp:
        result, output = Path(tmp) / "result.json", Path(tmp) / "output.txt"
        argv = [sys.executable, "-c", _CHILD, file, cls_name, str(result), str(os.getpid())]
        with output.open("wb") as out:  # a file, not a pipe: a module that prints a lot must not block on it
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                raise TaskError(f"importing {file} and making {cls_name}() did not finish within {timeout_s:g} s "
                                "(a loop or a blocking call at module level or in __init__?)") from None
            finally:
                kill_group(proc)  # also whatever it started
        said = json.loads(result.read_text(encoding="utf-8")) if result.is_file() else None
        if said is None:
            tail = output.read_bytes()[-600:].decode("utf-8", "replace").strip().splitlines()
            raise TaskError(f"importing {file} ended its check process with code {proc.returncode} "
                            f"({tail[-1][:300] if tail else 'no output'})")
        if "error" in said:
            raise TaskError(str(said["error"]))


_CHILD = "import sys; from rewardsmith.envs.adapters import _check_main; sys.exit(_check_main(sys.argv[1:]))"


def _check_main(argv: list[str]) -> int:
    """The child of :func:`_checked_in_child`: ``FILE CLASS RESULT_FILE PARENT_PID``; the verdict as JSON in RESULT_FILE."""
    file, cls_name, result, parent = argv
    die_with_parent(int(parent))
    try:
        _make_adapter(Path(file), cls_name)
        verdict: dict[str, str | bool] = {"ok": True}
    except TaskError as exc:
        verdict = {"error": str(exc)}
    Path(result).write_text(json.dumps(verdict), encoding="utf-8")
    return 0


def _make_adapter(file: Path, cls_name: str) -> StateAdapter:
    mod_name = f"rewardsmith_user_adapter_{abs(hash(str(file)))}"
    spec = importlib.util.spec_from_file_location(mod_name, file)
    if spec is None or spec.loader is None:
        raise TaskError(f"cannot import {file} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # user code: any error at import is the task file's problem, in one line
        sys.modules.pop(mod_name, None)
        raise TaskError(f"importing {file} raised {one_line(exc)}") from None
    cls = getattr(module, cls_name, None)
    if not (isinstance(cls, type) and issubclass(cls, StateAdapter)):
        raise TaskError(f"{cls_name!r} in {file} is not a StateAdapter subclass")
    try:
        return cls()
    except Exception as exc:
        raise TaskError(f"{cls_name}() raised {one_line(exc)}") from None


def one_line(exc: BaseException) -> str:
    """An exception raised by user code as ``Type (line N): message``, on one line and cut at 300 characters."""
    where = f" (line {exc.lineno})" if isinstance(exc, SyntaxError) and exc.lineno else ""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}{where}: {text[:300]}" if text else f"{type(exc).__name__}{where}"

"""Ground-truth fitness: what "the task was done" means, measured on one evaluation episode.

A fitness function is trusted user code: ``fitness(episode: Episode) -> float``, higher is better.
It never sees a candidate's reward. Built-in metrics are referred to by name in task files; a
user's own is ``"path/to/file.py:function"`` (relative to the task file).

A user's function may hang (at import or when called), so the orchestrator never imports it itself:
:func:`check_fitness_file` imports it and tries it on sample episodes in a child process
(:mod:`envs.fitness_child`) under a deadline. Job processes, which have their own timeouts, then load it
with :func:`load_fitness`.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib.util
import inspect
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rewardsmith.core.errors import FitnessError, TaskError
from rewardsmith.core.procs import kill_group
from rewardsmith.core.state import StateBatch, StateSpec


@dataclass(frozen=True)
class Episode:
    """One finished episode, as the fitness function sees it.

    Attributes:
        state: every state field over the episode, shape ``(T, *field_shape)`` (post-step states).
        actions: ``(T, act_dim)`` float actions.
        env_rewards: ``(T,)`` the environment's own reward per step.
        terminated: the environment ended the episode (success or failure, task-specific).
        truncated: the episode hit its time limit.
    """

    state: StateBatch
    actions: np.ndarray
    env_rewards: np.ndarray
    terminated: bool
    truncated: bool

    @property
    def length(self) -> int:
        return len(self.env_rewards)

    @classmethod
    def from_rows(
        cls, spec: StateSpec, states: Sequence[np.ndarray], actions: Sequence[np.ndarray],
        env_rewards: Sequence[float], terminated: bool, truncated: bool,
    ) -> Episode:
        flat = np.asarray(states, dtype=np.float64).reshape(len(states), spec.size)
        flat.flags.writeable = False
        return cls(
            state=spec.unpack(flat),
            actions=np.asarray(actions, dtype=np.float64).reshape(len(actions), spec.action.dim),
            env_rewards=np.asarray(env_rewards, dtype=np.float64),
            terminated=terminated,
            truncated=truncated,
        )


FitnessFn = Callable[[Episode], float]


def balance_steps(episode: Episode) -> float:
    """Number of steps the episode lasted (CartPole: steps the pole stayed up, at most 500)."""
    return float(episode.length)


def upright_fraction(episode: Episode) -> float:
    """Fraction of steps with the pendulum within 0.45 rad (cos > 0.9) of upright."""
    return float(np.mean(np.cos(episode.state.angle) > 0.9))


def flag_progress(episode: Episode) -> float:
    """Highest position reached, scaled so the valley floor (-0.5) is 0 and the flag (0.45) is 1; capped at 1."""
    best = float(np.max(episode.state.position))
    return float(np.clip((best + 0.5) / 0.95, 0.0, 1.0))


def env_return(episode: Episode) -> float:
    """Sum of the environment's own reward over the episode."""
    return float(np.sum(episode.env_rewards))


def forward_distance(episode: Episode) -> float:
    """Metres the body moved forward (+x) from its first to its last recorded state; a fall ends the episode."""
    x = episode.state.x_position
    return float(x[-1] - x[0])


def neg_target_distance(episode: Episode) -> float:
    """Minus the mean fingertip–target distance over the episode, in metres (0 = on the target throughout)."""
    return -float(np.mean(episode.state.distance_to_target))


def neg_object_goal_distance(episode: Episode) -> float:
    """Minus the cylinder–goal distance at the end of the episode, in metres (0 = pushed exactly onto the goal)."""
    return -float(episode.state.object_to_goal[-1])


BUILTIN_METRICS: dict[str, FitnessFn] = {
    "balance_steps": balance_steps,
    "upright_fraction": upright_fraction,
    "flag_progress": flag_progress,
    "env_return": env_return,
    "forward_distance": forward_distance,
    "neg_target_distance": neg_target_distance,
    "neg_object_goal_distance": neg_object_goal_distance,
}


def metric_docs() -> dict[str, str]:
    """What each built-in metric measures (its docstring, on one line), for ``rewardsmith tasks --metrics`` and the README."""
    return {name: " ".join((fn.__doc__ or "").split()) for name, fn in BUILTIN_METRICS.items()}


def load_fitness(ref: str, base_dir: Path) -> FitnessFn:
    """Resolve a built-in metric name or ``"file.py:function"`` (relative to ``base_dir``)."""
    if ":" not in ref:
        if ref in BUILTIN_METRICS:
            return BUILTIN_METRICS[ref]
        raise TaskError(
            f"unknown fitness metric {ref!r}; built-in metrics: {', '.join(sorted(BUILTIN_METRICS))} "
            "(or give 'path/to/file.py:function')"
        )
    file_part, func_name = ref.rsplit(":", 1)
    path = (base_dir / file_part).resolve()
    if not path.is_file():
        raise TaskError(f"fitness file {path} does not exist (from fitness = {ref!r})")
    module_name = f"rewardsmith_user_fitness_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise TaskError(f"cannot import fitness file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise FitnessError(f"importing fitness file {path} raised {type(exc).__name__}: {exc}") from exc
    fn = getattr(module, func_name, None)
    if not callable(fn):
        raise TaskError(f"fitness file {path} has no function {func_name!r}; {_defined_functions(module, func_name)}")
    if len(inspect.signature(fn).parameters) != 1:
        raise TaskError(f"fitness function {ref!r} must take exactly one argument (the episode)")
    return fn


def _defined_functions(module: Any, wanted: str) -> str:
    """What a fitness file does define, for the error about a name it does not (a typo is the usual cause)."""
    names = sorted(n for n, v in vars(module).items()
                   if inspect.isfunction(v) and v.__module__ == module.__name__ and not n.startswith("_"))
    if not names:
        return "it defines no function"
    close = difflib.get_close_matches(wanted, names, n=1)
    return f"it defines: {', '.join(names)}" + (f" (did you mean {close[0]!r}?)" if close else "")


def check_fitness_ref(ref: str, base_dir: Path) -> None:
    """Locate a fitness reference without running any of it: a known built-in, or a file that exists."""
    if ":" not in ref:
        load_fitness(ref, base_dir)  # built-in: only a lookup
        return
    file_part, func_name = ref.rsplit(":", 1)
    path = (base_dir / file_part).resolve()
    if not path.is_file():
        raise TaskError(f"fitness file {path} does not exist (from fitness = {ref!r})")
    if not func_name.isidentifier():
        raise TaskError(f"fitness = {ref!r}: {func_name!r} is not a function name; expected 'file.py:function'")


class HasFitness(Protocol):
    """What :func:`check_fitness_file` needs of a task (:class:`envs.tasks.Task` has it)."""

    @property
    def fitness_ref(self) -> str: ...

    @property
    def source(self) -> Path: ...


@dataclass(frozen=True)
class FitnessCheck:
    """What the task's fitness function gave on the sample episodes."""

    values: tuple[float, ...]
    """One finite value per sample episode, in order."""
    doc: str
    """The function's docstring ("" if it has none), for the designer's prompt."""


def check_fitness_file(task: HasFitness, sample_episodes: Sequence[Episode], timeout_s: float) -> FitnessCheck:
    """Import the task's fitness function and call it on ``sample_episodes``, all within ``timeout_s``.

    A user's function runs in a child process (its own session, killed with its whole group at the
    deadline, dead with its parent), so one that loops at import or when called costs ``timeout_s``,
    not the run. Built-in metrics are RewardSmith's own code and run here. Every failure is one line:
    :class:`FitnessError` when it hangs, raises or returns a non-float, :class:`TaskError` when the
    file has no such function.
    """
    if not sample_episodes:
        raise FitnessError("no sample episode to check the fitness function on")
    ref = task.fitness_ref
    base_dir = task.source.parent
    if ":" not in ref:
        fn = load_fitness(ref, base_dir)
        values = tuple(compute_fitness(fn, e, ref) for e in sample_episodes)
        return FitnessCheck(values, (fn.__doc__ or "").strip())
    check_fitness_ref(ref, base_dir)
    with tempfile.TemporaryDirectory(prefix="rewardsmith-fitness-") as tmp:
        folder = Path(tmp)
        _save_episodes(folder / "episodes.npz", sample_episodes)
        results, stderr, rc, timed_out = _run_child(ref, base_dir, folder, timeout_s)
    return _verdict(ref, results, stderr, rc, timed_out, timeout_s, sample_episodes)


def _run_child(ref: str, base_dir: Path, folder: Path, timeout_s: float) -> tuple[list[dict[str, Any]], str, int, bool]:
    """Run :mod:`envs.fitness_child` on ``folder``; its results file (JSON lines), stderr's end, exit code, timed out."""
    results, errors = folder / "results.jsonl", folder / "stderr.txt"
    argv = [sys.executable, "-m", "rewardsmith.envs.fitness_child", ref, str(base_dir), str(folder), str(os.getpid())]
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    with errors.open("wb") as err:
        # stdout and stderr go to a file, not a pipe: a function that prints a lot must not block on a full pipe
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err, start_new_session=True,
                                env=env)
        timed_out = False
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            kill_group(proc)  # also whatever it started, finished or not
    lines = results.read_text(encoding="utf-8", errors="replace").splitlines() if results.is_file() else []
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            break  # a line cut off by the kill
    tail = errors.read_bytes()[-2000:].decode("utf-8", "replace")
    return parsed, tail, proc.returncode if proc.returncode is not None else -9, timed_out


def _verdict(ref: str, results: list[dict[str, Any]], stderr: str, rc: int, timed_out: bool, timeout_s: float,
             episodes: Sequence[Episode]) -> FitnessCheck:
    imported = next((r for r in results if r.get("stage") == "imported"), None)
    values = [float(r["value"]) for r in results if "value" in r]
    failed = next((r for r in results if "error" in r), None)
    if failed is not None:
        kind = FitnessError if failed.get("kind") == "fitness" else TaskError
        raise kind(str(failed["error"]))
    if timed_out:
        if imported is None:
            raise FitnessError(f"fitness function {ref!r}: importing its file did not finish within {timeout_s:g} s "
                               "(a loop or a blocking call at module level?)")
        k = len(values)
        raise FitnessError(f"fitness function {ref!r} did not return within {timeout_s:g} s: it had scored {k} of "
                           f"{len(episodes)} sample episodes and hung on episode {k + 1} ({episodes[k].length} steps)")
    if rc != 0 or imported is None or len(values) != len(episodes):
        last = next((line.strip() for line in reversed(stderr.splitlines()) if line.strip()), "no output")
        raise FitnessError(f"fitness function {ref!r}: its check process exited with code {rc} "
                           f"after {len(values)} of {len(episodes)} episodes ({last[:300]})")
    return FitnessCheck(tuple(values), str(imported.get("doc") or ""))


def _save_episodes(path: Path, episodes: Sequence[Episode]) -> None:
    arrays: dict[str, np.ndarray] = {}
    for i, e in enumerate(episodes):
        for name, value in e.state.as_dict().items():
            arrays[f"{i}/state/{name}"] = np.asarray(value)
        arrays[f"{i}/actions"] = e.actions
        arrays[f"{i}/env_rewards"] = e.env_rewards
        arrays[f"{i}/ends"] = np.array([e.terminated, e.truncated])
    np.savez(path, **arrays)  # type: ignore[arg-type]


def load_episodes(path: Path) -> list[Episode]:
    """The episodes :func:`check_fitness_file` saved (plain arrays, no pickle), read-only as in training."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    count = 1 + max(int(key.split("/", 1)[0]) for key in arrays)
    episodes = []
    for i in range(count):
        prefix = f"{i}/state/"
        fields = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
        for v in fields.values():
            v.flags.writeable = False
        ends = arrays[f"{i}/ends"]
        episodes.append(Episode(StateBatch(fields), arrays[f"{i}/actions"], arrays[f"{i}/env_rewards"],
                                bool(ends[0]), bool(ends[1])))
    return episodes


FITNESS_CALL_TIMEOUT_S = 30.0
"""Most seconds one call of a task's fitness function may take inside a job process."""


def compute_fitness(fn: FitnessFn, episode: Episode, name: str = "fitness", timeout_s: float | None = None) -> float:
    """Call a fitness function and insist on a finite float; anything else is a :class:`FitnessError`.

    With ``timeout_s`` (job processes, where this runs in the main thread) a call that takes longer is
    interrupted by ``SIGALRM`` and is a :class:`FitnessError` too: the task's function is to blame, not
    the candidate whose episode it was scoring.
    """
    try:
        with _deadline(timeout_s, name):
            value = fn(episode)
    except FitnessError:
        raise
    except Exception as exc:
        raise FitnessError(f"fitness function {name!r} raised {type(exc).__name__}: {exc}") from exc
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise FitnessError(f"fitness function {name!r} returned {type(value).__name__}, expected a float") from None
    if not math.isfinite(value):
        raise FitnessError(f"fitness function {name!r} returned {value}, expected a finite float")
    return value


@contextlib.contextmanager
def _deadline(timeout_s: float | None, name: str) -> Iterator[None]:
    if timeout_s is None or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(signum: int, frame: object) -> None:
        raise FitnessError(f"fitness function {name!r} did not return within {timeout_s:g} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)

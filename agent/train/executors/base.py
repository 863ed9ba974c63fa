"""What an executor runs and reports, and the one scheduling loop every executor shares.

A :class:`Pipeline` is a short sequence of job steps for one target (train, then evaluate, then a
video); the next step starts only if the previous one ended ``ok``. Each step is one
``python -m rewardsmith.envs.jobs`` process, wherever it runs. :func:`run_pipelines` keeps at most
``capacity`` steps in flight, starts the next step of a pipeline when one ends, enforces each step's
wall-clock limit and tells the display what happened; *where* a step runs is a :class:`Launcher`'s
business (local processes: :mod:`.local`; Ray tasks: :mod:`.ray`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from rewardsmith.core.atomic import write_json

StepStatus = Literal["ok", "no_policy", "crashed", "timeout", "skipped", "fitness_failed"]
JobKind = Literal["train", "jax_round", "evaluate", "video"]


@dataclass(frozen=True, kw_only=True)
class JobStep:
    """One process: ``python -m rewardsmith.envs.jobs <kind> <spec_file> <orchestrator pid>``."""

    kind: JobKind
    spec: object
    """The job record (TrainJob / EvalJob); written to ``spec_file`` as JSON before the step starts."""
    spec_file: Path
    log_file: Path
    timeout_s: float
    progress_file: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment variables for the process (e.g. ``MUJOCO_GL`` for headless rendering)."""


@dataclass(frozen=True)
class Pipeline:
    key: str
    steps: tuple[JobStep, ...]


@dataclass(frozen=True)
class StepOutcome:
    kind: JobKind
    status: StepStatus
    wall_s: float
    detail: str = ""
    cpu_s: float = 0.0
    """CPU time (user + system) of the step's process and the children it waited for (its reward worker)."""


@dataclass(frozen=True, kw_only=True)
class ExecutorEvent:
    """What the display hears: a pipeline's step started, progressed, or ended."""

    key: str
    kind: str
    state: Literal["started", "progress", "ended"]
    fraction: float = 0.0
    outcome: StepOutcome | None = None


class Executor(Protocol):
    """Runs pipelines of job steps: local processes (:class:`.local.LocalExecutor`) or Ray tasks (:class:`.ray.RayExecutor`)."""

    def run(self, pipelines: list[Pipeline], on_event: Callable[[ExecutorEvent], None] | None = None
            ) -> dict[str, list[StepOutcome]]:
        """Run every pipeline to completion (a step starts only after the previous one ended ``ok``);
        return each pipeline's step outcomes by key, skipped steps included. The steps' output files
        are in the run directory when this returns."""
        ...


class Launcher(Protocol):
    """Where steps run: starts one, says whether it ended, stops it. Used by :func:`run_pipelines` only."""

    def capacity(self) -> int:
        """Steps that may be in flight at once."""
        ...

    def launch(self, step: JobStep) -> Any:
        """Start ``step`` (its spec already written); returns a handle for the calls below."""
        ...

    def wait(self, handles: Sequence[Any]) -> None:
        """Block for at most one polling interval, or until one of ``handles`` may have ended."""
        ...

    def finished(self, handle: Any, step: JobStep, elapsed_s: float) -> StepOutcome | None:
        """How the step ended, once it has (its outputs are in the run directory then); None while it runs."""
        ...

    def stop(self, handle: Any, step: JobStep, elapsed_s: float) -> StepOutcome:
        """Stop a step that ran past its limit; the ``timeout`` outcome says how it was stopped."""
        ...

    def progress(self, handle: Any, step: JobStep) -> float | None:
        """The fraction of the step done, when it says and it changed since the last call; else None."""
        ...

    def cancel(self, handle: Any) -> None:
        """Stop a step because the whole run is stopping (an exception, Ctrl-C)."""
        ...


@dataclass
class _InFlight:
    pipeline: Pipeline
    index: int
    handle: Any
    started: float
    outcomes: list[StepOutcome] = field(default_factory=list)

    @property
    def step(self) -> JobStep:
        return self.pipeline.steps[self.index]


def run_pipelines(pipelines: list[Pipeline], launcher: Launcher,
                  on_event: Callable[[ExecutorEvent], None] | None = None) -> dict[str, list[StepOutcome]]:
    """Run every pipeline to completion through ``launcher``; returns each pipeline's step outcomes by key.

    A step that runs past its ``timeout_s`` is stopped and recorded as ``timeout``; when this function
    is left by an exception, every step in flight is cancelled first.
    """
    emit = on_event or (lambda _e: None)
    queue = list(pipelines)
    flying: list[_InFlight] = []
    done: dict[str, list[StepOutcome]] = {}

    def start(pipeline: Pipeline, index: int, outcomes: list[StepOutcome]) -> _InFlight:
        step = pipeline.steps[index]
        write_json(step.spec_file, step.spec)  # kept for people reading the run directory, wherever it runs
        handle = launcher.launch(step)
        emit(ExecutorEvent(key=pipeline.key, kind=step.kind, state="started"))
        return _InFlight(pipeline, index, handle, time.monotonic(), list(outcomes))

    try:
        while queue or flying:
            while queue and len(flying) < launcher.capacity():
                flying.append(start(queue.pop(0), 0, []))
            launcher.wait([f.handle for f in flying])
            for job in list(flying):
                elapsed = time.monotonic() - job.started
                outcome = launcher.finished(job.handle, job.step, elapsed)
                if outcome is None and elapsed <= job.step.timeout_s:
                    fraction = launcher.progress(job.handle, job.step)
                    if fraction is not None:
                        emit(ExecutorEvent(key=job.pipeline.key, kind=job.step.kind, state="progress",
                                           fraction=fraction))
                    continue
                if outcome is None:
                    outcome = launcher.stop(job.handle, job.step, elapsed)
                flying.remove(job)
                emit(ExecutorEvent(key=job.pipeline.key, kind=job.step.kind, state="ended", fraction=1.0,
                                   outcome=outcome))
                job.outcomes.append(outcome)
                nxt = job.index + 1
                if outcome.status == "ok" and nxt < len(job.pipeline.steps):
                    flying.append(start(job.pipeline, nxt, job.outcomes))
                else:
                    skipped = [StepOutcome(s.kind, "skipped", 0.0) for s in job.pipeline.steps[nxt:]]
                    done[job.pipeline.key] = job.outcomes + skipped
    except BaseException:
        for job in flying:
            launcher.cancel(job.handle)
        raise
    return done


def exit_status(code: int) -> StepStatus:
    """A job process's exit code as a step status (:mod:`envs.jobs` names the codes)."""
    from rewardsmith.envs.jobs import FITNESS_FAILED, NO_POLICY

    known: dict[int, StepStatus] = {0: "ok", NO_POLICY: "no_policy", FITNESS_FAILED: "fitness_failed"}
    return known.get(code, "crashed")


def describe_exit(code: int, log_lines: list[str], where: str = "") -> str:
    """``killed by SIGKILL[ on NODE]: <the log's last unindented line>``, for a step that did not end ``ok``."""
    import signal

    how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
    how += f" on {where}" if where else ""
    last = next((ln for ln in reversed(log_lines) if ln.strip() and not ln.startswith(" ")), "")
    return f"{how}: {last}" if last else how

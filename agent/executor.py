"""Runs training and evaluation jobs in parallel worker processes, each with a wall-clock timeout.

A :class:`Pipeline` is a short sequence of job steps for one candidate (train, then evaluate); the
next step starts only if the previous one exited 0. Each step is a fresh ``python -m envs.jobs``
process in its own session, so a timeout kills the whole process group. Results are typed files the
steps write atomically; this module only reports how each process ended.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal, Protocol

from rewardsmith.core.atomic import read_record, write_json
from rewardsmith.core.procs import kill_group
from rewardsmith.envs.jobs import FITNESS_FAILED, NO_POLICY
from rewardsmith.envs.train_stats import Progress

StepStatus = Literal["ok", "no_policy", "crashed", "timeout", "skipped", "fitness_failed"]
JobKind = Literal["train", "jax_round", "evaluate", "video"]


@dataclass(frozen=True, kw_only=True)
class JobStep:
    """One process: ``python -m envs.jobs <kind> <spec_file> <orchestrator pid>``."""

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


@dataclass
class _Running:
    pipeline: Pipeline
    index: int
    proc: subprocess.Popen[bytes]
    log: IO[bytes]
    started: float
    last_progress_mtime: float = 0.0
    outcomes: list[StepOutcome] = field(default_factory=list)


class Executor(Protocol):
    """Runs pipelines of job steps; the local processes here, or tasks on a Ray cluster (``agent.executors.ray``)."""

    def run(self, pipelines: list[Pipeline], on_event: Callable[[ExecutorEvent], None] | None = None
            ) -> dict[str, list[StepOutcome]]:
        """Run every pipeline to completion (a step starts only after the previous one ended ``ok``);
        return each pipeline's step outcomes by key, skipped steps included. The steps' output files
        are in the run directory when this returns."""
        ...


class LocalExecutor:
    """Runs pipelines on this machine, at most ``workers`` processes at a time."""

    def __init__(self, workers: int, poll_s: float = 0.25) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.workers = workers
        self.poll_s = poll_s

    def run(self, pipelines: list[Pipeline], on_event: Callable[[ExecutorEvent], None] | None = None
            ) -> dict[str, list[StepOutcome]]:
        """Run every pipeline to completion; returns each pipeline's step outcomes by key."""
        emit = on_event or (lambda _e: None)
        queue = list(pipelines)
        running: list[_Running] = []
        done: dict[str, list[StepOutcome]] = {}
        try:
            while queue or running:
                while queue and len(running) < self.workers:
                    running.append(self._start(queue.pop(0), 0, [], emit))
                time.sleep(self.poll_s)
                for job in list(running):
                    outcome = self._check(job, emit)
                    if outcome is None:
                        continue
                    running.remove(job)
                    job.outcomes.append(outcome)
                    nxt = job.index + 1
                    if outcome.status == "ok" and nxt < len(job.pipeline.steps):
                        running.append(self._start(job.pipeline, nxt, job.outcomes, emit))
                    else:
                        skipped = [StepOutcome(s.kind, "skipped", 0.0) for s in job.pipeline.steps[nxt:]]
                        done[job.pipeline.key] = job.outcomes + skipped
        except BaseException:
            for job in running:
                kill_group(job.proc, wait_s=10)
                job.log.close()
            raise
        return done

    def _start(self, pipeline: Pipeline, index: int, outcomes: list[StepOutcome],
               emit: Callable[[ExecutorEvent], None]) -> _Running:
        step = pipeline.steps[index]
        write_json(step.spec_file, step.spec)
        step.log_file.parent.mkdir(parents=True, exist_ok=True)
        log = step.log_file.open("ab")
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", **step.env)
        proc = subprocess.Popen(
            [sys.executable, "-m", "rewardsmith.envs.jobs", step.kind, str(step.spec_file), str(os.getpid())],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env,
        )
        emit(ExecutorEvent(key=pipeline.key, kind=step.kind, state="started"))
        return _Running(pipeline, index, proc, log, time.monotonic(), outcomes=list(outcomes))

    def _check(self, job: _Running, emit: Callable[[ExecutorEvent], None]) -> StepOutcome | None:
        step = job.pipeline.steps[job.index]
        elapsed = time.monotonic() - job.started
        code, cpu_s = _reap(job.proc)
        if code is None and elapsed <= step.timeout_s:
            self._report_progress(job, step, emit)
            return None
        if code is None:
            kill_group(job.proc, wait_s=10)
            outcome = StepOutcome(step.kind, "timeout", elapsed, f"killed after the {step.timeout_s:g} s limit")
        elif code == 0:
            outcome = StepOutcome(step.kind, "ok", elapsed, cpu_s=cpu_s)
        elif code == NO_POLICY:
            outcome = StepOutcome(step.kind, "no_policy", elapsed, cpu_s=cpu_s)
        elif code == FITNESS_FAILED:
            outcome = StepOutcome(step.kind, "fitness_failed", elapsed, _describe_exit(code, step.log_file), cpu_s)
        else:
            outcome = StepOutcome(step.kind, "crashed", elapsed, _describe_exit(code, step.log_file), cpu_s)
        job.log.close()
        emit(ExecutorEvent(key=job.pipeline.key, kind=step.kind, state="ended", fraction=1.0, outcome=outcome))
        return outcome

    def _report_progress(self, job: _Running, step: JobStep, emit: Callable[[ExecutorEvent], None]) -> None:
        if step.progress_file is None:
            return
        try:
            mtime = step.progress_file.stat().st_mtime
        except FileNotFoundError:
            return
        if mtime == job.last_progress_mtime:
            return
        job.last_progress_mtime = mtime
        try:
            progress = read_record(step.progress_file, Progress)
        except (OSError, ValueError):
            return
        emit(ExecutorEvent(key=job.pipeline.key, kind=step.kind, state="progress", fraction=progress.done / max(progress.total, 1)))


def _reap(proc: subprocess.Popen[bytes]) -> tuple[int | None, float]:
    """The exit code of a finished process (None while it runs) and its CPU-seconds, from ``wait4``'s rusage."""
    if proc.returncode is not None:
        return proc.returncode, 0.0
    try:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
    except ChildProcessError:  # reaped elsewhere: no usage to read
        return proc.poll(), 0.0
    if pid == 0:
        return None, 0.0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_utime + usage.ru_stime


def _describe_exit(code: int, log_file: Path) -> str:
    how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
    try:
        lines = log_file.read_text(errors="replace").strip().splitlines()
    except OSError:
        lines = []
    last = next((ln for ln in reversed(lines) if ln.strip() and not ln.startswith(" ")), "")
    return f"{how}: {last}" if last else how

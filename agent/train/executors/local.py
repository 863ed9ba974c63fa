"""Runs job steps as processes on this machine, at most ``workers`` at a time, each with a wall-clock limit.

Each step is a fresh ``python -m rewardsmith.envs.jobs`` process in its own session, so a timeout
kills the whole process group (the job and its reward worker). Results are typed files the steps
write atomically; this module only reports how each process ended.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO

from rewardsmith.agent.train.executors.base import (
    ExecutorEvent,
    JobStep,
    Pipeline,
    StepOutcome,
    describe_exit,
    exit_status,
    run_pipelines,
)
from rewardsmith.core.atomic import read_record
from rewardsmith.core.procs import kill_group
from rewardsmith.envs.backends.records import Progress

JOB_THREADS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
"""Every job process gets one math-library thread: jobs run side by side, one per core."""


@dataclass
class _Process:
    proc: subprocess.Popen[bytes]
    log: IO[bytes]
    last_progress_mtime: float = 0.0


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
        return run_pipelines(pipelines, self, on_event)

    # -- the Launcher protocol (agent.train.executors.base) -----------------------------------------
    def capacity(self) -> int:
        return self.workers

    def launch(self, step: JobStep) -> _Process:
        step.log_file.parent.mkdir(parents=True, exist_ok=True)
        log = step.log_file.open("ab")
        env = dict(os.environ, **JOB_THREADS, **step.env)
        proc = subprocess.Popen(
            [sys.executable, "-m", "rewardsmith.envs.jobs", step.kind, str(step.spec_file), str(os.getpid())],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env,
        )
        return _Process(proc, log)

    def wait(self, handles: Sequence[_Process]) -> None:
        time.sleep(self.poll_s)

    def finished(self, handle: _Process, step: JobStep, elapsed_s: float) -> StepOutcome | None:
        code, cpu_s = _reap(handle.proc)
        if code is None:
            return None
        handle.log.close()
        status = exit_status(code)
        detail = "" if status in ("ok", "no_policy") else describe_exit(code, _log_lines(step))
        return StepOutcome(step.kind, status, elapsed_s, detail, cpu_s)

    def stop(self, handle: _Process, step: JobStep, elapsed_s: float) -> StepOutcome:
        self.cancel(handle)
        return StepOutcome(step.kind, "timeout", elapsed_s, f"killed after the {step.timeout_s:g} s limit")

    def progress(self, handle: _Process, step: JobStep) -> float | None:
        if step.progress_file is None:
            return None
        try:
            mtime = step.progress_file.stat().st_mtime
        except FileNotFoundError:
            return None
        if mtime == handle.last_progress_mtime:
            return None
        handle.last_progress_mtime = mtime
        try:
            progress = read_record(step.progress_file, Progress)
        except (OSError, ValueError):
            return None
        return progress.done / max(progress.total, 1)

    def cancel(self, handle: _Process) -> None:
        kill_group(handle.proc, wait_s=10)
        handle.log.close()


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


def _log_lines(step: JobStep) -> list[str]:
    try:
        return step.log_file.read_text(errors="replace").strip().splitlines()
    except OSError:
        return []

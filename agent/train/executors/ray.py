"""``--executor ray``: every job step of a pipeline as a Ray task, the run directory kept by the orchestrator.

Each step (train, evaluate, video) is one task with declared resources (``num_cpus``, ``num_gpus``;
fractional GPUs get ``XLA_PYTHON_CLIENT_MEM_FRACTION`` set for the job, since Ray's resources are
logical only and JAX would otherwise preallocate 75% of the device in each process). ``max_calls=1``
gives every task a fresh worker process. The task does not assume the run directory is shared:
the orchestrator sends the step's spec and the input files it names (the reward, a rung's
checkpoint, a policy to evaluate) as bytes; the worker runs ``python -m envs.jobs`` in a temporary
folder with the spec's paths mapped into it and returns every file the job wrote, plus its log and
CPU-seconds; the orchestrator alone writes them into the run directory (atomically, the job's result
file last). So resume works as with local processes: a step whose outputs are on disk is not redone.

Wall-clock limits are enforced from the orchestrator: ``ray.wait`` with a timeout, then
``ray.cancel(force=True)`` (the job process dies with its worker). A task lost with its node is
retried by Ray (``max_retries``); if every try is lost the step is recorded as crashed, like a local
process that died. Per-step rather than per-pipeline tasks keep the local executor's resume
granularity (a trained policy is saved even if its evaluation is lost). Progress inside a step is
not streamed back: the display sees each step start and end.

Task files are read at the same path on every node (the built-in ones ship with the package).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from rewardsmith.agent.train.executors.base import (
    ExecutorEvent,
    JobStep,
    Pipeline,
    StepOutcome,
    describe_exit,
    exit_status,
    run_pipelines,
)
from rewardsmith.agent.train.executors.local import JOB_THREADS
from rewardsmith.core.atomic import write_bytes, write_json
from rewardsmith.core.errors import ConfigError

GRACE_S = 30.0
"""The worker's own backstop: it kills its job this long after the orchestrator's limit, should the cancel be lost."""


@dataclass(frozen=True, kw_only=True)
class StepRequest:
    """What one Ray task gets: a job and its input files, with paths relative to the run directory."""

    kind: str
    spec: Any
    """The job spec as JSON-compatible data, every run-directory path already relative (``RUN/...``)."""
    inputs: dict[str, bytes]
    log_name: str
    env: dict[str, str]
    timeout_s: float


@dataclass(frozen=True, kw_only=True)
class StepResult:
    exit_code: int
    files: tuple[tuple[str, bytes], ...]
    """Every file the job wrote, relative to the run directory, oldest first (the result file last)."""
    log: bytes
    cpu_s: float
    wall_s: float
    node: str


RUN = "RUN"
"""Placeholder for the run directory in the paths a task receives."""


def _map_paths(value: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, dict):
        return {k: _map_paths(v, fn) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_map_paths(v, fn) for v in value]
    return value


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def run_step(request: StepRequest) -> StepResult:
    """The body of a Ray task (runs on a worker): the job in a temporary folder, its outputs back as bytes."""
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="rewardsmith-ray-"))
    try:
        prefix = RUN + "/"
        spec = _map_paths(request.spec, lambda s: str(tmp / s[len(prefix):]) if s.startswith(prefix) else s)
        inputs = set()
        for rel, data in request.inputs.items():
            path = tmp / rel[len(prefix):]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            inputs.add(path)
        spec_file = tmp / ".job.json"
        write_json(spec_file, spec)
        log_file = tmp / ".job.log"
        env = dict(os.environ, **JOB_THREADS, **request.env)
        before = os.times()
        with log_file.open("wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "rewardsmith.envs.jobs", request.kind, str(spec_file), str(os.getpid())],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, env=env)
            try:
                code = proc.wait(timeout=request.timeout_s + GRACE_S)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                code = proc.wait(timeout=30)
        after = os.times()
        cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
        written = sorted((p for p in tmp.rglob("*") if p.is_file() and p not in inputs and not p.name.startswith(".job.")),
                         key=lambda p: p.stat().st_mtime_ns)
        files = tuple((f"{RUN}/{p.relative_to(tmp)}", p.read_bytes()) for p in written)
        return StepResult(exit_code=code, files=files, log=log_file.read_bytes(), cpu_s=cpu,
                          wall_s=time.monotonic() - started, node=os.uname().nodename)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


LOCAL_ONLY_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
"""Ray's own switch: "0" makes every node of a local instance use 127.0.0.1 as its address.

Ray 2.60 ignores ``ray.init(_node_ip_address=...)`` and ``ray start --node-ip-address``: it
advertises the machine's first interface address. A local instance must talk over the loopback
only, so the switch is set before Ray is imported (its constants are read at import) and is
inherited by the processes Ray starts.
"""


def local_only() -> None:
    """Make a Ray instance started from this process use 127.0.0.1 (measured: ``NodeManagerAddress``)."""
    os.environ[LOCAL_ONLY_ENV] = "0"  # Ray has no other switch (see LOCAL_ONLY_ENV)
    constants = sys.modules.get("ray._private.ray_constants")
    if constants is not None:  # Ray already imported: its services read the constant at call time
        constants.ENABLE_RAY_CLUSTER = False  # type: ignore[attr-defined]


class RayExecutor:
    """Runs pipelines as Ray tasks, one task per step; as a context manager it connects, then disconnects
    (else it connects on the first :meth:`run`, and Ray stops a local instance when the process exits).

    Args:
        run_root: the run directory; paths under it travel as bytes, nothing else is assumed shared.
        address: a running cluster (``ray start --head`` …); None starts a local instance on 127.0.0.1,
            stopped again on exit.
        workers: most tasks in flight at once; None = the cluster's CPUs divided by ``num_cpus``.
        num_cpus / num_gpus: resources each task declares (``num_gpus`` may be a fraction).
        max_retries: how often Ray retries a task whose worker or node died.
    """

    def __init__(self, run_root: Path, address: str | None = None, workers: int | None = None,
                 num_cpus: float = 1.0, num_gpus: float = 0.0, max_retries: int = 2, poll_s: float = 0.2) -> None:
        if num_cpus <= 0 or num_gpus < 0:
            raise ConfigError("a Ray task needs num_cpus > 0 and num_gpus >= 0")
        self.run_root = run_root.resolve()
        self.address = address
        self.workers = workers
        self.num_cpus, self.num_gpus = num_cpus, num_gpus
        self.max_retries = max_retries
        self.poll_s = poll_s
        self._remote: Any = None

    def __enter__(self) -> RayExecutor:
        self.connect()
        return self

    def connect(self) -> None:
        """Connect to the cluster (or start the local instance); done by :meth:`run` when not yet done."""
        if self._remote is not None:
            return
        if self.address is None or self.address.split(":")[0] in ("127.0.0.1", "localhost"):
            local_only()
        try:
            import ray
        except ImportError:
            raise ConfigError("--executor ray needs Ray: pip install 'rewardsmith[ray]'") from None
        if self.address is None:
            # address="local": a new instance, never one that another process started on this machine
            ray.init(address="local", num_cpus=self.workers, include_dashboard=False, log_to_driver=False)
        else:
            try:
                ray.init(address=self.address, log_to_driver=False)
            except (ConnectionError, RuntimeError) as exc:
                raise ConfigError(f"cannot reach the Ray cluster at {self.address}: {str(exc).splitlines()[0]}") from None
        self._remote = ray.remote(max_calls=1)(run_step)

    def __exit__(self, *exc: object) -> None:
        import ray

        ray.shutdown()
        self._remote = None

    def capacity(self) -> int:
        """Tasks that fit the cluster's alive nodes at once (or ``workers``)."""
        import ray

        if self.workers is not None:
            return self.workers
        cpus = float(ray.cluster_resources().get("CPU", 0.0))
        return max(1, int(cpus // self.num_cpus))

    def run(self, pipelines: list[Pipeline], on_event: Callable[[ExecutorEvent], None] | None = None
            ) -> dict[str, list[StepOutcome]]:
        """Run every pipeline to completion; returns each pipeline's step outcomes by key."""
        self.connect()
        return run_pipelines(pipelines, self, on_event)

    # -- the Launcher protocol (agent.train.executors.base) -----------------------------------------
    def wait(self, handles: Sequence[Any]) -> None:
        import ray

        ray.wait(list(handles), num_returns=1, timeout=self.poll_s)

    def finished(self, handle: Any, step: JobStep, elapsed_s: float) -> StepOutcome | None:
        import ray

        ready, _ = ray.wait([handle], num_returns=1, timeout=0)
        return self._collect(handle, step, elapsed_s) if ready else None

    def stop(self, handle: Any, step: JobStep, elapsed_s: float) -> StepOutcome:
        self.cancel(handle)
        return StepOutcome(step.kind, "timeout", elapsed_s, f"cancelled after the {step.timeout_s:g} s limit")

    def progress(self, handle: Any, step: JobStep) -> float | None:
        return None  # not streamed back from the worker: the display sees each step start and end

    def cancel(self, handle: Any) -> None:
        import ray

        ray.cancel(handle, force=True)

    def _relative(self, value: str) -> str:
        if value.startswith(str(self.run_root) + os.sep):
            return f"{RUN}/{Path(value).relative_to(self.run_root)}"
        return value

    def launch(self, step: JobStep) -> Any:
        """Submit ``step`` as a Ray task with its input files; returns the task's object ref."""
        raw = TypeAdapter(type(step.spec)).dump_python(step.spec, mode="json")
        inputs = {}
        for s in _strings(raw):
            path = Path(s)
            if path.is_absolute() and path.is_file() and s.startswith(str(self.run_root) + os.sep):
                inputs[self._relative(s)] = path.read_bytes()
        env = dict(step.env)
        if self.num_gpus > 0:  # JAX preallocates 75% of a device by default; leave room for the others
            env.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION", f"{min(0.9, 0.9 * self.num_gpus):.2f}")
        request = StepRequest(kind=step.kind, spec=_map_paths(raw, self._relative), inputs=inputs,
                              log_name=step.log_file.name, env=env, timeout_s=step.timeout_s)
        return self._remote.options(num_cpus=self.num_cpus, num_gpus=self.num_gpus,
                                    max_retries=self.max_retries).remote(request)

    def _collect(self, ref: Any, step: JobStep, elapsed: float) -> StepOutcome:
        import ray
        from ray.exceptions import RayError

        try:
            result: StepResult = ray.get(ref, timeout=60)
        except RayError as exc:  # the worker or its node died on every try
            return StepOutcome(step.kind, "crashed", elapsed, f"lost on the Ray cluster: {type(exc).__name__}")
        for rel, data in result.files:
            write_bytes(self.run_root / rel[len(RUN) + 1:], data)
        step.log_file.parent.mkdir(parents=True, exist_ok=True)
        with step.log_file.open("ab") as log:
            log.write(result.log)
        status = exit_status(result.exit_code)
        lines = result.log.decode(errors="replace").splitlines()
        detail = "" if status in ("ok", "no_policy") else describe_exit(result.exit_code, lines, result.node)
        return StepOutcome(step.kind, status, elapsed, detail, result.cpu_s)

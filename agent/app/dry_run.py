"""``rewardsmith run --dry-run``: what a run will do and how long it will take on this machine, without running it.

The time comes from measured job times: a training job's start-up and its steady rate (environment
steps per second), an evaluation, a candidate's validation and, when the run records them, a video.
They are taken from the finished jobs of earlier runs of the same task under ``--out`` when there
are any, or else measured now: the run's own jobs, as processes, on a short training of a simple
reward through the sandbox (about ten seconds). On a backend that trains a round's targets together
(jax) the numbers are a program's: its start-up and compile, and its env-steps per second over all its
targets, measured now on a two-target program of the env's own reward. The estimate adds up every
stage (each round's validations, trainings, evaluations and videos, then the final comparison) with the
run's workers side by side (:mod:`agent.train.plan`); the output says where the numbers come from, on
which backend, and the machine's load when they were taken. Fix-retries, LLM calls and review pauses are
not counted.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from rewardsmith.agent.report.final import DEFAULT_FINAL_SEEDS
from rewardsmith.agent.report.text import duration
from rewardsmith.agent.rundir.store import RunStore
from rewardsmith.agent.train.backends.base import Backend
from rewardsmith.agent.train.executors.base import ExecutorEvent
from rewardsmith.agent.train.plan import JobSeconds, RunPlan, plan_run
from rewardsmith.core.errors import TaskError
from rewardsmith.envs.tasks import Task

MEASURE_ROLLOUTS = 5
"""PPO rollouts of the training measured now: enough progress marks after the first for a steady rate."""
MIN_STORED = 1


@dataclass(frozen=True, kw_only=True)
class JobRates:
    """How long a run's jobs take on this machine, and where the numbers come from."""

    steps_per_s: float
    """Environment steps per second of one training process once it runs."""
    train_start_s: float
    """What a training job takes besides its steps: process start, imports, envs, saving the policy."""
    evaluate_s: float | None
    validate_s: float | None
    video_s: float | None
    source: str
    """Where the numbers come from, said to the user."""
    batched: bool = False
    """The targets train together in one program: ``steps_per_s`` is the program's over all its targets and
    ``train_start_s`` its start-up and compile."""

    def job_seconds(self, steps: int) -> JobSeconds:
        """Each kind of job's seconds for trainings of ``steps`` environment steps."""
        if self.batched:
            return JobSeconds(validate=self.validate_s, evaluate=self.evaluate_s, video=self.video_s,
                              batch_start=self.train_start_s, batch_target=steps / self.steps_per_s)
        return JobSeconds(validate=self.validate_s, train=self.train_start_s + steps / self.steps_per_s,
                          evaluate=self.evaluate_s, video=self.video_s)


def stored_rates(task: Task, runs_dir: Path, backend: str) -> JobRates | None:
    """The job times of the finished jobs of earlier runs of ``task`` on ``backend`` under ``runs_dir`` (medians);
    one training job per target (a backend that trains targets together is measured now)."""
    trainings: list[tuple[int, float]] = []
    walls: dict[str, list[float]] = {"evaluate": [], "video": []}
    validations: list[float] = []
    runs: list[str] = []
    for store in RunStore.runs_in(runs_dir) if runs_dir.is_dir() else []:
        try:
            record = store.load_record()
            if record.task_name != task.name or record.config.backend != backend:
                continue
            for rnd in store.rounds():
                for r in store.round_results(rnd):
                    if r.validation.timings_ms:
                        validations.append(sum(r.validation.timings_ms.values()) / 1000)
                    for job in store.load_costs(store.files_of(r.candidate)):
                        if job.kind == "train" and job.env_steps > 0 and job.wall_s > 0:
                            trainings.append((job.env_steps, job.wall_s))
                            if store.root.name not in runs:
                                runs.append(store.root.name)
                        elif job.kind in walls:
                            walls[job.kind].append(job.wall_s)
        except Exception:  # an unreadable or foreign directory is no measurement; skip it
            continue
    if len(trainings) < MIN_STORED:
        return None
    start_s, rate = _fit(trainings)
    shown = ", ".join(runs[:3]) + (f" and {len(runs) - 3} more" if len(runs) > 3 else "")
    return JobRates(steps_per_s=rate, train_start_s=start_s, evaluate_s=_median(walls["evaluate"]),
                    validate_s=_median(validations), video_s=_median(walls["video"]),
                    source=f"stored: medians of {len(trainings)} finished trainings and their jobs in {runs_dir} "
                           f"({shown})")


def _fit(trainings: list[tuple[int, float]]) -> tuple[float, float]:
    """(start-up seconds, steps per second) of trainings given as (steps, wall seconds): a line through them when
    their budgets differ, else the median rate with its start-up inside it."""
    import numpy as np

    steps = np.array([s for s, _ in trainings], dtype=float)
    wall = np.array([w for _, w in trainings], dtype=float)
    if len(set(steps.tolist())) > 1:
        slope, start = np.polyfit(steps, wall, 1)
        if slope > 0 and start >= 0:
            return float(start), float(1.0 / slope)
    return 0.0, float(np.median(steps / wall))


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


PROBE_REWARD = '''\
import numpy as np


def compute_reward(state, action):
    """A simple reward over one state field, only to time the jobs (the dry run's probe)."""
    x = np.asarray(state.{field}, dtype=np.float64).reshape(action.shape[0], -1)
    total = -np.abs(x).sum(axis=1)
    return total, {{"probe": total}}
'''


def measure_rates(task: Task, backend: Backend, videos: bool = False) -> JobRates:
    """Run a short training of a simple reward (through the sandbox, as a candidate's), its evaluation on the task's
    episodes and, with ``videos``, its video, as the run's own job processes; time its validation too. On a
    backend that trains targets together: one program of two targets on the env's own reward (no export to
    wait for), timed by its own compile and run seconds."""
    from rewardsmith.agent.design.candidates import probe
    from rewardsmith.agent.records.config import RunConfig
    from rewardsmith.agent.rundir.store import TargetFiles
    from rewardsmith.agent.train.executors.local import LocalExecutor
    from rewardsmith.agent.train.pipelines import Trainer
    from rewardsmith.agent.train.targets import TrainSettings, TrainTarget
    from rewardsmith.envs.rollout import random_rollout

    steps = MEASURE_ROLLOUTS * task.train.ppo.n_steps * task.train.n_envs
    code = PROBE_REWARD.format(field=task.adapter.spec.names[0])
    marks: list[tuple[float, float]] = []
    walls: dict[str, float] = {}
    together = backend.trains_together

    def listen(event: ExecutorEvent) -> None:
        if event.state == "progress" and event.kind == "train":
            marks.append((time.monotonic(), event.fraction))
        elif event.state == "ended" and event.outcome is not None and event.outcome.status == "ok":
            walls.setdefault(event.kind, event.outcome.wall_s)

    sample = random_rollout(task, n=256, seed=0)
    started = time.monotonic()
    report = probe(task, code, sample)
    validate_s = time.monotonic() - started
    with tempfile.TemporaryDirectory(prefix="rewardsmith-dry-run-") as tmp:
        store = RunStore(Path(tmp))
        accepted = report.accepted and not together
        targets = []
        for i in range(2 if together else 1):
            files = TargetFiles(Path(tmp) / f"probe_{i}")
            files.dir.mkdir(parents=True)
            files.reward.write_text(code)
            targets.append(TrainTarget(key=f"probe {i}", files=files, reward_kind="candidate" if accepted else "env",
                                       reward_file=files.reward if accepted else None, video=videos and i == 0))
        settings = TrainSettings.for_run(task, RunConfig(task=str(task.source), seed=0), steps=steps)
        trainer = Trainer(task=task, settings=settings, backend=backend, store=store,
                          executor=LocalExecutor(1, poll_s=0.05), on_event=listen)
        batch = store.round_files(1)
        trainer.train_and_evaluate(targets, batch=batch if together else None)
        stats = store.load_round_stats(batch) if together else None
    job = next((k for k in walls if k not in ("evaluate", "video")), None)
    if job is None or (together and stats is None):
        raise TaskError(f"the dry run's probe training of {task.name} failed; `rewardsmith evaluate {task.name} "
                        "REWARD.py` trains one and shows why")
    train_wall = walls[job]
    if stats is not None:  # the program's own clock: its run apart from its start-up and compile
        rate, start_s = stats.env_steps / stats.run_s, max(0.0, train_wall - stats.run_s)
        what = (f"a {len(targets)}-target program of {backend.name} ({stats.env_steps:,} env-steps, {train_wall:.1f} s "
                "as a job)")
    else:
        rate = steps / train_wall
        if len(marks) >= 2 and marks[-1][0] > marks[0][0] and marks[-1][1] > marks[0][1]:
            rate = (marks[-1][1] - marks[0][1]) * steps / (marks[-1][0] - marks[0][0])
        start_s = max(0.0, train_wall - steps / rate)
        reward = "a sandboxed probe reward" if accepted else "the env's own reward"
        what = f"{steps:,} steps of {backend.name} PPO on {reward} in {train_wall:.1f} s as a job"
    return JobRates(steps_per_s=rate, train_start_s=start_s, evaluate_s=walls.get("evaluate"), validate_s=validate_s,
                    video_s=walls.get("video"), batched=stats is not None,
                    source=f"measured now: {what}, its evaluation {walls.get('evaluate', 0.0):.1f} s"
                           + (f", its video {walls['video']:.1f} s" if "video" in walls else ""))


def estimate(plan: RunPlan, rates: JobRates) -> list[tuple[str, float]]:
    """Each stage's seconds (the rounds, then the final comparison), with the plan's workers side by side."""
    times = rates.job_seconds(plan.budget.steps)
    out = []
    for stage in plan.stages():
        seconds = stage.seconds(times, plan.workers, batched=rates.batched)
        assert seconds is not None  # the rates always have a training time
        out.append((stage.title, seconds))
    return out


def describe(plan: RunPlan, task: Task, designer: str, rates: JobRates, cores: int, load: float,
             notes: Sequence[str] = ()) -> list[str]:
    """The dry run's report, line by line (``notes``: what the run's header says too, e.g. its backend)."""
    b = plan.budget
    lines = [f"dry run: {task.name} ({task.env_id}), designer {designer}; nothing is trained or called",
             *(f"  {note}" for note in notes),
             f"  {plan.rounds} rounds × {plan.samples} candidates, {b.steps:,} PPO steps each"]
    if b.rounded:
        lines.append(f"  note: {b.note()}")
    if plan.baselines:
        lines.append("  plus the env's own reward and the sparse fitness reward as baselines (round 1)")
    if plan.final_seeds:
        lines.append(f"  then the best reward{' and the baselines' if plan.baselines else ''} retrained on "
                     f"{plan.final_seeds} fresh seeds ({plan.final_trainings} trainings)")
    lines.append(f"  {plan.trainings} trainings and their evaluations{', candidates with a video' if plan.videos else ''}, "
                 f"{plan.env_steps:,} environment steps, {plan.workers} at a time")
    if rates.batched:
        training = (f"a round's trainings in one program: {rates.train_start_s:.1f} s of start-up and compile, then "
                    f"{rates.steps_per_s:,.0f} env-steps/s over all its targets "
                    f"({duration(rates.job_seconds(b.steps).batch_target or 0.0)} per target)")
    else:
        training = (f"a training {duration(rates.job_seconds(b.steps).train or 0.0)} "
                    f"({rates.steps_per_s:,.0f} steps/s after {rates.train_start_s:.1f} s of start-up)")
    lines.append(f"  per job: {training}, an evaluation {_secs(rates.evaluate_s)}, a validation "
                 f"{_secs(rates.validate_s)}" + (f", a video {_secs(rates.video_s)}" if plan.videos else ""))
    lines.append(f"    ({rates.source})")
    stages = estimate(plan, rates)
    crowded = f"; {plan.workers} workers on {cores} cores will each run slower" if plan.workers > cores else ""
    lines.append(f"  estimated time: ~{duration(sum(s for _, s in stages))} — "
                 + ", ".join(f"{title} ~{duration(s)}" for title, s in stages))
    lines.append(f"    (validation, training, evaluation{', videos' if plan.videos else ''} and the final comparison; "
                 f"measured at load {load:.1f} on {cores} cores, a busier machine is slower{crowded}; "
                 "fix-retries, LLM calls and reviews not included)")
    return lines


def _secs(value: float | None) -> str:
    return f"{value:.1f} s" if value is not None else "not measured"


def dry_run(task: Task, plan: RunPlan, designer: str, runs_dir: Path, console: Console, backend: Backend,
            measure: bool = True, notes: Sequence[str] = ()) -> int:
    """Print what the run would do on ``backend`` and its estimated time; returns the exit status (0)."""
    rates = None if backend.trains_together else stored_rates(task, runs_dir, backend.name)
    if rates is not None and plan.videos and rates.video_s is None:
        rates = None  # earlier runs recorded no video: measure one
    if rates is None:
        if not measure:
            console.print("dry run: no earlier run of this task to take job times from", markup=False)
            return 0
        console.print("dry run: timing this machine's jobs (a short training, its evaluation; ~10 s)…", markup=False)
        rates = measure_rates(task, backend, videos=plan.videos)
    for line in describe(plan, task, designer, rates, len(os.sched_getaffinity(0)), os.getloadavg()[0], notes):
        console.print(line, markup=False, highlight=False)
    return 0


def plan_for(task: Task, *, backend: str, rounds: int, samples: int, steps: int | None, workers: int,
             baselines: bool, final_seeds: int = DEFAULT_FINAL_SEEDS, videos: bool = False) -> RunPlan:
    """The plan of a run with these options (what the CLI passes from its :class:`~agent.records.config.RunConfig`,
    ``backend`` resolved: the task's budget may differ by backend)."""
    return plan_run(task, backend=backend, rounds=rounds, samples=samples, steps=steps, workers=workers,
                    baselines=baselines, final_seeds=final_seeds, videos=videos)

"""``rewardsmith run --dry-run``: what a run will do and how long it will take on this machine, without running it.

The time comes from a measured training throughput (environment steps per second of one PPO
training), taken from the finished trainings of earlier runs of the same task under ``--out`` when
there are any, or else measured now with a short training on the env's own reward (a few seconds).
The output says which. A candidate's reward runs in a sandboxed worker, which costs a little more
than the env's own reward; fix-retries, review pauses, evaluation and videos are not counted.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from rewardsmith.agent.display import duration
from rewardsmith.agent.report.final import DEFAULT_FINAL_SEEDS
from rewardsmith.agent.rundir.store import RunStore, TargetFiles
from rewardsmith.agent.train.plan import RunPlan, plan_run
from rewardsmith.envs.tasks import Task

MEASURE_ROLLOUTS = 2
MIN_STORED = 1


@dataclass(frozen=True, kw_only=True)
class Throughput:
    steps_per_s: float
    """Environment steps per second of one training process."""
    source: str
    """Where the number comes from, said to the user."""


def stored_throughput(task: Task, runs_dir: Path) -> Throughput | None:
    """Median steps/s of the finished trainings of earlier runs of ``task`` under ``runs_dir``."""
    rates: list[float] = []
    runs: list[str] = []
    for store in RunStore.runs_in(runs_dir) if runs_dir.is_dir() else []:
        try:
            if store.load_record().task_name != task.name:
                continue
            for rnd in store.rounds():
                for r in store.round_results(rnd):
                    t = r.training
                    if t is not None and t.status == "ok" and t.wall_s > 0 and t.steps_done > 0:
                        rates.append(t.steps_done / t.wall_s)
                        if store.root.name not in runs:
                            runs.append(store.root.name)
        except Exception:  # an unreadable or foreign directory is no measurement; skip it
            continue
    if len(rates) < MIN_STORED:
        return None
    rates.sort()
    median = rates[len(rates) // 2]
    shown = ", ".join(runs[:3]) + (f" and {len(runs) - 3} more" if len(runs) > 3 else "")
    return Throughput(steps_per_s=median, source=f"stored: median of {len(rates)} finished trainings in {runs_dir} "
                                                f"({shown})")


def measure_throughput(task: Task) -> Throughput:
    """Train the env's own reward for a couple of rollouts here and now (start-up included, as in a run)."""
    from rewardsmith.envs.backends.sb3.train import TrainJob, train

    steps = MEASURE_ROLLOUTS * task.train.ppo.n_steps * task.train.n_envs
    with tempfile.TemporaryDirectory(prefix="rewardsmith-dry-run-") as tmp:
        started = time.monotonic()
        result = train(TrainJob(task_file=str(task.source), reward_kind="env", reward_file=None, steps=steps, seed=0,
                                outputs=TargetFiles(Path(tmp)).train_outputs()))
        wall = time.monotonic() - started
    return Throughput(steps_per_s=result.steps_done / wall,
                      source=f"measured now: {result.steps_done:,} steps of SB3 PPO on the env's own reward in {wall:.1f} s")


def estimate_s(plan: RunPlan, throughput: Throughput) -> float:
    """Seconds of training, with ``workers`` trainings side by side, each at ``throughput``."""
    per_training = plan.budget.steps / throughput.steps_per_s
    waves = sum(plan.waves(plan.trainings_in_round(r)) for r in range(1, plan.rounds + 1))
    return (waves + plan.waves(plan.final_trainings)) * per_training


def describe(plan: RunPlan, task: Task, designer: str, throughput: Throughput, cores: int,
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
    lines.append(f"  {plan.trainings} trainings, {plan.env_steps:,} environment steps, {plan.workers} at a time")
    total = estimate_s(plan, throughput)
    lines.append(f"  throughput: {throughput.steps_per_s:,.0f} steps/s per training ({throughput.source})")
    crowded = f"; {plan.workers} workers on {cores} cores will each run slower" if plan.workers > cores else ""
    lines.append(f"  estimated training time: ~{duration(total)} (evaluation, videos, LLM calls and reviews "
                 f"not included{crowded})")
    return lines


def dry_run(task: Task, plan: RunPlan, designer: str, runs_dir: Path, console: Console, measure: bool = True,
            notes: Sequence[str] = ()) -> int:
    """Print what the run would do and its estimated time; returns the exit status (0)."""
    import os

    throughput = stored_throughput(task, runs_dir)
    if throughput is None:
        if not measure:
            console.print("dry run: no earlier run of this task to take a throughput from", markup=False)
            return 0
        console.print("dry run: measuring this machine's training throughput (a few seconds)…", markup=False)
        throughput = measure_throughput(task)
    for line in describe(plan, task, designer, throughput, len(os.sched_getaffinity(0)), notes):
        console.print(line, markup=False, highlight=False)
    return 0


def plan_for(task: Task, *, rounds: int, samples: int, steps: int | None, workers: int, baselines: bool,
             final_seeds: int = DEFAULT_FINAL_SEEDS) -> RunPlan:
    """The plan of a run with these options (what the CLI passes from its :class:`~agent.records.config.RunConfig`)."""
    return plan_run(task, rounds=rounds, samples=samples, steps=steps, workers=workers, baselines=baselines,
                    final_seeds=final_seeds)

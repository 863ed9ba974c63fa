"""``rewardsmith evaluate``: train with one reward file on several seeds and report held-out fitness."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from pydantic import TypeAdapter
from rich.console import Console
from rich.table import Table

from agent.executor import LocalExecutor
from agent.progress import ProgressView
from agent.trainer import TrainSettings, TrainTarget, train_and_evaluate
from core.atomic import write_json, write_text
from core.errors import ConfigError
from envs.evaluation import EvaluationResult, seed_sets
from envs.rollout import random_rollout
from envs.tasks import load_task
from envs.training import TrainingResult
from sandboxes.validate import validate_source


def evaluate_reward_file(args: argparse.Namespace, console: Console) -> int:
    task = load_task(args.task)
    if args.seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {args.seeds}")
    try:
        code = Path(args.file).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {args.file}: {exc.strerror}") from None
    sample = random_rollout(task, n=256, seed=0)
    report = validate_source(code, task.adapter.spec, sample.states, sample.actions)
    if not report.accepted:
        console.print(f"{args.file}: rejected at the {report.stage} stage", markup=False)
        console.print(report.message, markup=False)
        return 1
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) / f"evaluate-{task.name}-{stamp}"
    write_text(out / "reward.py", code)
    selection, heldout = seed_sets(0, task.eval.selection_episodes, task.eval.heldout_episodes)
    settings = TrainSettings(args.steps or task.train.steps, 0, float(task.train.timeout_s), 5.0, selection, heldout)
    targets = [TrainTarget(f"seed {s}", out / f"seed_{s}", "candidate", out / "reward.py", seed=s)
               for s in range(args.seeds)]
    # With --json, stdout carries only the JSON document; progress lines go to stderr.
    progress = Console(stderr=True, highlight=False, soft_wrap=True) if args.json else console
    view = ProgressView(progress, live=not args.json)
    view.round_started(1, 1)
    results = train_and_evaluate(task, targets, settings, LocalExecutor(args.workers), view.executor_event)
    view.stop()
    per_seed = [_SeedResult(t.seed or 0, *_status_and_fitness(*results[t.key])) for t in targets]
    values = [r.heldout for r in per_seed if r.heldout is not None]
    summary = EvaluateSummary(task.name, str(args.file), settings.steps, args.seeds,
                              float(np.mean(values)) if values else None, float(np.std(values)) if values else None,
                              tuple(per_seed), str(out))
    write_json(out / "evaluation.json", summary)
    if args.json:
        print(TypeAdapter(EvaluateSummary).dump_json(summary, indent=2).decode())
        return 0
    table = Table(title=f"{task.name}: held-out fitness of {args.file}")
    table.add_column("seed")
    table.add_column("status")
    table.add_column("held-out fitness", justify="right")
    for row in per_seed:
        table.add_row(str(row.seed), row.status, f"{row.heldout:.4g}" if row.heldout is not None else "-")
    console.print(table)
    if values:
        console.print(f"mean {np.mean(values):.4g} ± {np.std(values):.2g} over {len(values)} seeds "
                      f"({settings.steps:,} steps each); results in {out}", markup=False)
    return 0


@dataclass(frozen=True)
class _SeedResult:
    seed: int
    status: str
    selection: float | None
    heldout: float | None


@dataclass(frozen=True)
class EvaluateSummary:
    """What ``rewardsmith evaluate`` reports (and writes to ``evaluation.json``)."""

    task: str
    reward_file: str
    steps: int
    seeds: int
    heldout_mean: float | None
    heldout_std: float | None
    per_seed: tuple[_SeedResult, ...]
    run_dir: str


def _status_and_fitness(training: TrainingResult | None, evaluation: EvaluationResult | None
                        ) -> tuple[str, float | None, float | None]:
    status = training.status if training is not None else "missing"
    if evaluation is None:
        return status, None, None
    return status, evaluation.selection.mean, evaluation.heldout.mean

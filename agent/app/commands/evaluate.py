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

from rewardsmith.agent.design.candidates import probe
from rewardsmith.agent.display import ProgressView
from rewardsmith.agent.records.config import RunConfig
from rewardsmith.agent.records.results import TargetOutcome
from rewardsmith.agent.rundir.store import RunStore, TargetFiles
from rewardsmith.agent.train.backends import SB3Backend
from rewardsmith.agent.train.executors.local import LocalExecutor
from rewardsmith.agent.train.pipelines import Trainer
from rewardsmith.agent.train.plan import rollout_budget
from rewardsmith.agent.train.targets import TrainSettings, TrainTarget
from rewardsmith.core.atomic import write_json, write_text
from rewardsmith.core.errors import ConfigError
from rewardsmith.envs.rollout import random_rollout
from rewardsmith.envs.tasks import load_task


def evaluate_reward_file(args: argparse.Namespace, console: Console) -> int:
    task = load_task(args.task)
    if args.seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {args.seeds}")
    if args.steps is not None and args.steps < 1:
        raise ConfigError(f"--steps must be at least 1, got {args.steps}")
    if args.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {args.workers}")
    budget = rollout_budget(task, args.steps, SB3Backend.name)  # evaluate trains with SB3
    try:
        code = Path(args.file).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {args.file}: {exc.strerror}") from None
    report = probe(task, code, random_rollout(task, n=256, seed=0))
    if not report.accepted:
        console.print(f"{args.file}: rejected at the {report.stage} stage", markup=False)
        console.print(report.message, markup=False)
        return 1
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) / f"evaluate-{task.name}-{stamp}"
    reward_file = TargetFiles(out).reward
    write_text(reward_file, code)
    settings = TrainSettings.for_run(task, RunConfig(task=str(task.source), seed=0), steps=budget.steps)
    store = RunStore(out)
    targets = [TrainTarget(key=f"seed {s}", files=TargetFiles(out / f"seed_{s}"), reward_kind="candidate",
                           reward_file=reward_file, seed=s) for s in range(args.seeds)]
    # With --json, stdout carries only the JSON document; progress lines go to stderr.
    progress = Console(stderr=True, highlight=False, soft_wrap=True) if args.json else console
    if budget.rounded:  # PPO trains whole rollouts: say what is trained instead of silently doing more
        progress.print(f"note: {budget.note()}", markup=False)
    view = ProgressView(progress, live=not args.json)
    view.round_started(1, 1)
    trainer = Trainer(task=task, settings=settings, backend=SB3Backend(), executor=LocalExecutor(args.workers),
                      store=store, on_event=view.executor_event)
    results = trainer.train_and_evaluate(targets)
    view.stop()
    per_seed = [_seed_result(t.seed or 0, results[t.key]) for t in targets]
    values = [r.heldout for r in per_seed if r.heldout is not None]
    summary = EvaluateSummary(task=task.name, reward_file=str(args.file), steps=settings.steps, seeds=args.seeds,
                              heldout_mean=float(np.mean(values)) if values else None, heldout_std=float(np.std(values)) if values else None,
                              per_seed=tuple(per_seed), run_dir=str(out))
    write_json(out / "evaluation.json", summary)
    status = 0 if values else 1  # every seed failed: the reward file trained nothing usable
    if args.json:
        print(TypeAdapter(EvaluateSummary).dump_json(summary, indent=2).decode())
        return status
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
    else:
        Console(stderr=True, highlight=False, soft_wrap=True).print(
            f"error: every training seed failed ({', '.join(sorted({r.status for r in per_seed}))}); see {out}",
            markup=False)
    return status


@dataclass(frozen=True)
class _SeedResult:
    seed: int
    status: str
    selection: float | None
    heldout: float | None


@dataclass(frozen=True, kw_only=True)
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


def _seed_result(seed: int, outcome: TargetOutcome) -> _SeedResult:
    training, evaluation = outcome.training, outcome.evaluation
    return _SeedResult(seed=seed, status=training.status if training is not None else "missing",
                       selection=evaluation.selection.mean if evaluation else None,
                       heldout=evaluation.heldout.mean if evaluation else None)

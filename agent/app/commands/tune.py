"""``rewardsmith tune RUN_DIR|REWARD_FILE [TASK]``: tune a reward's named constants (:mod:`agent.tune.tuner`).

From a run directory it tunes the run's best candidate (or ``--candidate``), with the run's task and
seeds, and keeps the study in ``RUN_DIR/tune/<id>/``. From a reward file it needs the task and keeps
the study in ``--dir`` (default ``runs/tune-<task>-<hash of the file>``, so the same command resumes).
Run the same command again after an interruption: finished trials are not redone.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.table import Table

from rewardsmith.agent.app.commands.tune_args import add_tune_arguments
from rewardsmith.agent.design.candidates import probe
from rewardsmith.agent.display import ProgressView
from rewardsmith.agent.records.config import RunConfig
from rewardsmith.agent.rundir.store import RunStore
from rewardsmith.agent.train.backends import resolve_backend
from rewardsmith.agent.train.executors.local import LocalExecutor
from rewardsmith.agent.train.pipelines import Trainer
from rewardsmith.agent.train.targets import TrainSettings
from rewardsmith.agent.tune.constants import parse_overrides
from rewardsmith.agent.tune.tuner import (
    TrialFailed,
    Tuner,
    TuneResult,
    TuneSettings,
    trainer_evaluate,
    tune_label,
)
from rewardsmith.core.errors import ConfigError, RewardSmithError
from rewardsmith.core.text import printable
from rewardsmith.envs.rollout import random_rollout
from rewardsmith.envs.tasks import Task, load_task


def cmd_tune(args: argparse.Namespace, console: Console) -> int:
    for name in ("trials", "rungs", "workers", "batch"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise ConfigError(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.eta < 2:
        raise ConfigError(f"--eta must be at least 2, got {args.eta}")
    source = Path(args.source)
    task, store, label, code, cfg = _source(args, source)
    cfg, backend, backend_line = resolve_backend(task, replace(cfg, backend=args.backend))
    if not probe(task, code, random_rollout(task, n=256, seed=0), cfg.allow_weak_sandbox).accepted:
        raise ConfigError(f"{args.source}: the reward is rejected by the sandbox (see rewardsmith validate)")
    settings = TrainSettings.for_run(task, cfg, steps=args.steps)
    view = ProgressView(console, live=False)
    view.round_started(1, 1)
    tuner = Tuner(code, label, store, label, settings.steps,
                  TuneSettings(trials=args.trials, rungs=args.rungs, eta=args.eta, seed=cfg.seed,
                               overrides=parse_overrides(args.range),
                               batch=args.batch or backend.tune_batch(args.trials)),
                  trainer_evaluate(Trainer(task=task, settings=settings, backend=backend,
                                           executor=LocalExecutor(args.workers), store=store,
                                           on_event=view.executor_event)))
    console.print(f"tuning {len(tuner.space)} constants of {label} ({task.name}): "
                  + ", ".join(f"{p.name} in {'-' if p.sign < 0 else ''}[{p.low:g}, {p.high:g}]{' log' if p.log else ''}"
                              for p in tuner.space) + f"; rungs {tuner.rungs}; {backend_line}; batches of {tuner.settings.batch}; "
                  f"study in {tuner.files.study}", markup=False)
    try:
        result = tuner.run(on_trial=lambda t: console.print(
            f"  trial {t.number}: {t.state} at rung {t.rung}, fitness "
            f"{'-' if t.fitness is None else f'{t.fitness:.4g}'}", markup=False))
    except TrialFailed as exc:
        raise ConfigError(f"tuning found nothing: {exc}") from None
    finally:
        view.stop()
    show(result, console)
    return 0


def _source(args: argparse.Namespace, source: Path) -> tuple[Task, RunStore, str, str, RunConfig]:
    allow_weak = bool(args.allow_weak_sandbox)
    if source.is_dir():
        store = RunStore(source)
        record = store.load_record()
        cid = args.candidate or (store.load_summary().best_id if store.load_summary() else None)  # type: ignore[union-attr]
        if cid is None:
            raise ConfigError(f"{source} has no best candidate yet; name one with --candidate rRRcKK")
        result = store.load_result_by_id(cid)
        if result is None or result.candidate.code is None:
            raise ConfigError(f"{source} has no candidate {cid} with code")
        task = load_task(args.task or record.config.task)
        seed = record.config.seed if args.seed is None else args.seed
        cfg = RunConfig(task=str(task.source), seed=seed, allow_weak_sandbox=allow_weak or record.config.allow_weak_sandbox)
        return task, store, cid, result.candidate.code, cfg
    if args.task is None:
        raise ConfigError("tuning a reward file needs the task: rewardsmith tune REWARD_FILE TASK")
    try:
        code = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {source}: {exc}") from None
    task = load_task(args.task)
    root = Path(args.dir) if args.dir else Path("runs") / f"tune-{task.name}-{tune_label(source)[7:]}"
    cfg = RunConfig(task=str(task.source), seed=args.seed or 0, allow_weak_sandbox=allow_weak)
    return task, RunStore(root), "reward", code, cfg


def show(result: TuneResult, console: Console) -> None:
    """The trials, the diff of the constants, and the held-out check of the tuned reward against the untuned one."""
    table = Table(title=f"tuning {result.source}: {len(result.trials)} trials")
    for col in ("trial", "state", "rung", "selection fitness", *(p.name for p in result.space)):
        table.add_column(col, justify="right")
    for t in result.trials:
        table.add_row(str(t.number), t.state, str(t.rung), "-" if t.fitness is None else f"{t.fitness:.4g}",
                      *(f"{t.values.get(p.name, float('nan')):.4g}" for p in result.space))
    console.print(table)
    console.print(printable(result.diff) or "(the designer's constants were the best found: no change)", markup=False)

    def fmt(v: float | None, s: float | None) -> str:
        return "-" if v is None else f"{v:.4g} ± {s or 0.0:.2g}"

    verdict = "better" if result.improved else "NOT better"
    console.print(f"held-out fitness ({result.steps:,} steps, same seeds): untuned "
                  f"{fmt(result.untuned_heldout, result.untuned_heldout_std)}, tuned "
                  f"{fmt(result.tuned_heldout, result.tuned_heldout_std)} ({verdict}); compute "
                  f"{result.env_steps:,} env-steps, {result.train_wall_s:.0f} s of training; tuned reward: {result.tuned_file}",
                  markup=False)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m agent.app.commands.tune`` (the same as ``rewardsmith tune``)."""
    parser = argparse.ArgumentParser(prog="rewardsmith tune")
    add_tune_arguments(parser)
    args = parser.parse_args(argv)
    console = Console(highlight=False, soft_wrap=True)
    try:
        return cmd_tune(args, console)
    except RewardSmithError as exc:
        Console(stderr=True, highlight=False, soft_wrap=True).print(f"error: {exc}", markup=False)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())

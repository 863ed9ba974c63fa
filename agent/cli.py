"""The ``rewardsmith`` command line: tasks, run, resume, validate, evaluate.

Bad input (unknown task, malformed task file, fitness function that raises, bad run directory)
ends in one ``error:`` line and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime
from importlib.metadata import version as pkg_version
from pathlib import Path

from rich.console import Console

from agent.config import RunConfig, RunRecord, default_workers
from agent.errors import ConfigError, RewardSmithError

EXIT_OK, EXIT_REJECTED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    console = Console(highlight=False, soft_wrap=True)
    handler: Callable[[argparse.Namespace, Console], int] = args.handler
    try:
        return handler(args, console)
    except RewardSmithError as exc:
        Console(stderr=True, highlight=False, soft_wrap=True).print(f"error: {exc}", markup=False)
        return exc.exit_code
    except KeyboardInterrupt:
        hint = f"; continue with: rewardsmith resume {args.run_dir}" if getattr(args, "run_dir", None) else ""
        Console(stderr=True, highlight=False, soft_wrap=True).print(f"interrupted{hint}", markup=False)
        return EXIT_INTERRUPTED


# -- commands ------------------------------------------------------------------------------------
def cmd_tasks(args: argparse.Namespace, console: Console) -> int:
    from envs.tasks import builtin_task_files, load_task_file

    tasks = [load_task_file(p) for p in builtin_task_files().values()]
    if args.json:
        print(json.dumps([{"name": t.name, "env": t.env_id, "description": t.description, "fitness": t.fitness_ref,
                           "steps": t.train.steps, "fields": [asdict(f) for f in t.adapter.spec.fields]}
                          for t in tasks], indent=2))
        return EXIT_OK
    for t in tasks:
        console.print(f"[bold]{t.name}[/bold]  {t.env_id}  (fitness: {t.fitness_ref}, {t.train.steps:,} steps)")
        console.print(f"  {t.description}", markup=False)
        for line in t.adapter.spec.describe().splitlines():
            console.print(f"    {line}", markup=False)
    return EXIT_OK


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    from envs.tasks import load_task

    task = load_task(args.task)
    config = RunConfig(
        task=str(task.source), designer=args.designer, rounds=args.rounds, samples=args.samples, steps=args.steps,
        seed=args.seed, workers=args.workers, baselines=not args.no_baselines,
        train_timeout_s=args.train_timeout,
    )
    _check_config(config)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    run_dir = Path(args.out) / f"{task.name}-{stamp}"
    suffix = 1
    while run_dir.exists():
        suffix += 1
        run_dir = Path(args.out) / f"{task.name}-{stamp}-{suffix}"
    args.run_dir = run_dir
    return _start(run_dir, config, console, new=True)


def cmd_resume(args: argparse.Namespace, console: Console) -> int:
    from agent.store import RunStore

    run_dir = Path(args.run_dir)
    record = RunStore(run_dir).load_record()
    config = record.config
    if args.rounds is not None:
        config = replace(config, rounds=args.rounds)
    if args.workers is not None:
        config = replace(config, workers=args.workers)
    _check_config(config)
    return _start(run_dir, config, console, new=False)


def _start(run_dir: Path, config: RunConfig, console: Console, new: bool) -> int:
    from agent.designers import make_designer
    from agent.loop import run_loop
    from agent.progress import ProgressView
    from agent.store import RunStore
    from envs.tasks import load_task
    from sandboxes.isolation import detect_isolation

    task = load_task(config.task)
    designer = make_designer(config.designer)
    isolation = detect_isolation()
    store = RunStore(run_dir)
    record = RunRecord(config, task.name, designer.label, isolation.describe(),
                       datetime.now(UTC).isoformat(timespec="seconds"), _version())
    if not new:
        record = replace(store.load_record(), config=config)
    store.save_record(record)
    view = ProgressView(console)
    steps = config.steps or task.train.steps
    view.header([
        f"RewardSmith {'run' if new else 'resume'}: {task.name} ({task.env_id}) → {run_dir}",
        f"designer: {designer.label}",
        f"{isolation.describe()}",
        f"{config.rounds} rounds × {config.samples} candidates, {steps:,} PPO steps each, {config.workers} workers"
        + (", plus the env's own and the sparse reward as baselines" if config.baselines else ""),
    ])
    try:
        summary = run_loop(store, record, view)
    finally:
        view.stop()
    view.summary(summary, str(run_dir))
    return EXIT_OK


def cmd_validate(args: argparse.Namespace, console: Console) -> int:
    from dataclasses import asdict as dc_asdict

    from agent.extract import ExtractionError, extract_reward
    from envs.rollout import random_rollout
    from envs.tasks import load_task
    from sandboxes.validate import ValidationReport, validate_source

    task = load_task(args.task)
    source = _read_file(Path(args.file))
    try:
        code = source if Path(args.file).suffix == ".py" else extract_reward(source).code
        sample = random_rollout(task, n=256, seed=0)
        report = validate_source(code, task.adapter.spec, sample.states, sample.actions)
    except ExtractionError as err:
        report = ValidationReport(False, "extract", err.kind, err.message)
    if args.json:
        print(json.dumps(dc_asdict(report), indent=2))
    else:
        verdict = "[green]accepted[/green]" if report.accepted else f"[red]rejected[/red] at the {report.stage} stage"
        console.print(f"{args.file}: {verdict} ({report.sandbox or 'static check only'})")
        if not report.accepted:
            console.print(report.message, markup=False)
        for w in report.warnings:
            console.print(f"warning: {w}", markup=False)
        if report.components:
            console.print(f"components: {', '.join(report.components)}", markup=False)
    return EXIT_OK if report.accepted else EXIT_REJECTED


def cmd_evaluate(args: argparse.Namespace, console: Console) -> int:
    from agent.evaluate import evaluate_reward_file

    return evaluate_reward_file(args, console)


# -- helpers -------------------------------------------------------------------------------------
def _check_config(config: RunConfig) -> None:
    for name in ("rounds", "samples", "workers"):
        if getattr(config, name) < 1:
            raise ConfigError(f"--{name} must be at least 1, got {getattr(config, name)}")
    if config.steps is not None and config.steps < 1:
        raise ConfigError(f"--steps must be at least 1, got {config.steps}")


def _read_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror if isinstance(exc, OSError) else exc}") from None


def _version() -> str:
    try:
        return pkg_version("rewardsmith")
    except Exception:
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rewardsmith", description="Design reward functions from a task description.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("tasks", help="list built-in tasks with their state fields")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(handler=cmd_tasks)

    s = sub.add_parser("run", help="run the reward-design loop on a task")
    s.add_argument("task", help="built-in task name or path to a .toml task file")
    s.add_argument("--designer", default="offline", help="offline (default) | scripted:DIR")
    s.add_argument("--rounds", type=int, default=3, help="rounds of the loop (default 3)")
    s.add_argument("--samples", type=int, default=4, help="candidates per round, K (default 4)")
    s.add_argument("--steps", type=int, default=None, help="PPO steps per candidate (default: the task's budget)")
    s.add_argument("--seed", type=int, default=0, help="training seed shared by all candidates (default 0)")
    s.add_argument("--workers", type=int, default=default_workers(), help="parallel training processes (default: cores)")
    s.add_argument("--review", choices=["none"], default="none", help="pause for review between rounds")
    s.add_argument("--executor", choices=["local"], default="local", help="where training jobs run")
    s.add_argument("--out", default="runs", help="parent directory of the run directory (default ./runs)")
    s.add_argument("--no-baselines", action="store_true", help="skip training the human and sparse baselines")
    s.add_argument("--train-timeout", type=float, default=None, help="seconds per training job (default: task's)")
    s.set_defaults(handler=cmd_run)

    s = sub.add_parser("resume", help="continue an interrupted run without redoing finished work")
    s.add_argument("run_dir", help="the run directory")
    s.add_argument("--rounds", type=int, default=None, help="change the total number of rounds")
    s.add_argument("--workers", type=int, default=None, help="parallel training processes")
    s.set_defaults(handler=cmd_resume)

    s = sub.add_parser("validate", help="sandbox verdict for a reward file (exit 0 accepted, 1 rejected)")
    s.add_argument("task")
    s.add_argument("file", help="a .py reward module, or a response text with a ```python block")
    s.add_argument("--json", action="store_true")
    s.set_defaults(handler=cmd_validate)

    s = sub.add_parser("evaluate", help="train with a reward file and report held-out fitness")
    s.add_argument("task")
    s.add_argument("file")
    s.add_argument("--steps", type=int, default=None, help="PPO steps per seed (default: the task's budget)")
    s.add_argument("--seeds", type=int, default=3, help="training seeds (default 3)")
    s.add_argument("--workers", type=int, default=default_workers())
    s.add_argument("--out", default="runs")
    s.add_argument("--json", action="store_true")
    s.set_defaults(handler=cmd_evaluate)
    return p


if __name__ == "__main__":
    sys.exit(main())

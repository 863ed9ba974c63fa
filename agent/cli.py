"""The ``rewardsmith`` command line: tasks, run, resume, validate, evaluate, bench, review, ui.

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

from agent.config import LLMOptions, RunConfig, RunRecord, default_workers
from core.errors import ConfigError, RewardSmithError

EXIT_OK, EXIT_REJECTED, EXIT_USAGE, EXIT_STOPPED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


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
        train_timeout_s=args.train_timeout, review=args.review, preference_only=args.preferences_only,
        oracle_noise=args.oracle_noise, review_timeout_s=args.review_timeout, videos=args.videos,
        fix_attempts=args.fix_attempts, llm=_llm_options(args, LLMOptions()),
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
    config = replace(config, llm=_llm_options(args, config.llm))
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
    designer = make_designer(config.designer, llm=config.llm, run_dir=run_dir)
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
    if summary.stopped:
        Console(stderr=True, highlight=False, soft_wrap=True).print(
            f"stopped: {summary.stopped}; continue with: rewardsmith resume {run_dir}", markup=False)
        return EXIT_STOPPED
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
        took = sum(report.timings_ms.get(k, 0.0) for k in ("static_ms", "probe_ms"))
        console.print(f"{args.file}: {verdict} ({report.sandbox or 'static check only'}; {took:.0f} ms)")
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


def cmd_bench(args: argparse.Namespace, console: Console) -> int:
    from agent.bench import bench_command

    return bench_command(args, console, _llm_options(args, LLMOptions()))


def cmd_review(args: argparse.Namespace, console: Console) -> int:
    from agent.review import open_session
    from agent.review_terminal import TerminalReviewer
    from agent.store import RunStore

    session = open_session(RunStore(Path(args.run_dir)))
    TerminalReviewer.interactive().review(session)
    console.print(f"a run waiting with --review web continues now; otherwise: rewardsmith resume {args.run_dir}",
                  markup=False)
    return EXIT_OK


def cmd_ui(args: argparse.Namespace, console: Console) -> int:
    from agent.web.server import serve

    return serve(Path(args.runs), args.host, args.port, args.token, console)


# -- helpers -------------------------------------------------------------------------------------
def _llm_options(args: argparse.Namespace, base: LLMOptions) -> LLMOptions:
    """``base`` with the LLM options given on the command line (``resume`` may raise the caps)."""
    given = {"api_base": args.api_base, "timeout_s": getattr(args, "llm_timeout", None),
             "response_tokens": getattr(args, "response_tokens", None), "max_cost": args.max_cost,
             "max_tokens": args.max_tokens, "price_in": getattr(args, "price_in", None),
             "price_out": getattr(args, "price_out", None)}
    options = replace(base, **{k: v for k, v in given.items() if v is not None})
    for name in ("timeout_s", "response_tokens", "max_cost", "max_tokens", "price_in", "price_out"):
        value = getattr(options, name)
        if value is not None and (value < 0 or (value == 0 and name in ("timeout_s", "response_tokens"))):
            raise ConfigError(f"--{_LLM_FLAGS[name]} must be positive, got {value}")
    if (options.price_in is None) != (options.price_out is None):
        raise ConfigError("give both --price-in and --price-out (US dollars per million tokens), or neither")
    return options


_LLM_FLAGS = {"timeout_s": "llm-timeout", "response_tokens": "response-tokens", "max_cost": "max-cost",
              "max_tokens": "max-tokens", "price_in": "price-in", "price_out": "price-out"}


def _add_llm_options(s: argparse.ArgumentParser, resume: bool = False) -> None:
    g = s.add_argument_group("LLM designer (--designer <litellm model>, e.g. openai/gpt-4o-mini; keys from the "
                             "provider's environment variables)")
    g.add_argument("--api-base", default=None, help="URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
    g.add_argument("--max-cost", type=float, default=None, help="stop (resumable) before LLM calls pass this many USD")
    g.add_argument("--max-tokens", type=int, default=None, help="stop (resumable) before LLM calls pass this many tokens")
    if resume:
        return
    g.add_argument("--price-in", type=float, default=None, help="USD per million prompt tokens, for unpriced models")
    g.add_argument("--price-out", type=float, default=None, help="USD per million completion tokens, for unpriced models")
    g.add_argument("--llm-timeout", type=float, default=None, help="seconds per LLM call (default 180)")
    g.add_argument("--response-tokens", type=int, default=None, help="most tokens per answer (default: the model's)")
    g.add_argument("--fix-attempts", type=int, default=2,
                   help="times a rejected candidate goes back to the LLM with the exact problem (default 2)")


def _check_config(config: RunConfig) -> None:
    for name in ("rounds", "samples", "workers"):
        if getattr(config, name) < 1:
            raise ConfigError(f"--{name} must be at least 1, got {getattr(config, name)}")
    if config.steps is not None and config.steps < 1:
        raise ConfigError(f"--steps must be at least 1, got {config.steps}")
    if config.fix_attempts < 0:
        raise ConfigError(f"--fix-attempts must be at least 0, got {config.fix_attempts}")
    if config.preference_only and config.review == "none":
        raise ConfigError("--preferences-only needs a reviewer: --review cli|web|oracle")
    if config.oracle_noise < 0:
        raise ConfigError(f"--oracle-noise must be >= 0, got {config.oracle_noise}")


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
    s.add_argument("--designer", default="offline",
                   help="offline (default) | a litellm model string, e.g. openai/gpt-4o-mini | scripted:DIR | "
                        "replay:RUN_DIR (the answers recorded in another run, no LLM calls)")
    s.add_argument("--rounds", type=int, default=3, help="rounds of the loop (default 3)")
    s.add_argument("--samples", type=int, default=4, help="candidates per round, K (default 4)")
    s.add_argument("--steps", type=int, default=None, help="PPO steps per candidate (default: the task's budget)")
    s.add_argument("--seed", type=int, default=0, help="training seed shared by all candidates (default 0)")
    s.add_argument("--workers", type=int, default=default_workers(), help="parallel training processes (default: cores)")
    s.add_argument("--review", choices=["none", "cli", "web", "oracle"], default="none",
                   help="pause for review after each round: terminal, web app (rewardsmith ui), or the synthetic "
                        "preference oracle (default none)")
    s.add_argument("--preferences-only", action="store_true",
                   help="select by the reviewer's preferences; designers never see the fitness (ICPL)")
    s.add_argument("--oracle-noise", type=float, default=0.1,
                   help="noise of the preference oracle, as a fraction of the fitness spread (default 0.1)")
    s.add_argument("--review-timeout", type=float, default=3600.0,
                   help="seconds --review web waits for a review before stopping, resumable (default 3600)")
    s.add_argument("--video", dest="videos", action="store_true", default=None,
                   help="record a rollout video per candidate (default: only when reviewing)")
    s.add_argument("--no-video", dest="videos", action="store_false", help="never record videos")
    s.add_argument("--executor", choices=["local"], default="local", help="where training jobs run")
    s.add_argument("--out", default="runs", help="parent directory of the run directory (default ./runs)")
    s.add_argument("--no-baselines", action="store_true", help="skip training the human and sparse baselines")
    s.add_argument("--train-timeout", type=float, default=None, help="seconds per training job (default: task's)")
    _add_llm_options(s)
    s.set_defaults(handler=cmd_run)

    s = sub.add_parser("resume", help="continue an interrupted run without redoing finished work")
    s.add_argument("run_dir", help="the run directory")
    s.add_argument("--rounds", type=int, default=None, help="change the total number of rounds")
    s.add_argument("--workers", type=int, default=None, help="parallel training processes")
    _add_llm_options(s, resume=True)
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

    s = sub.add_parser("bench", help="human-normalized score table: designed vs the env's own vs the sparse reward")
    s.add_argument("tasks", nargs="*", metavar="TASK", help="tasks (default: halfcheetah hopper reacher)")
    s.add_argument("--designer", default="offline", help="as for run (default offline)")
    s.add_argument("--rounds", type=int, default=2, help="design rounds per task (default 2)")
    s.add_argument("--samples", type=int, default=4, help="candidates per round (default 4)")
    s.add_argument("--seeds", type=int, default=3, help="fresh training seeds per reward in the final comparison (default 3)")
    s.add_argument("--seed", type=int, default=0, help="training seed of the design loop (default 0)")
    s.add_argument("--steps", type=int, default=None, help="PPO steps per training run (default: each task's budget)")
    s.add_argument("--workers", type=int, default=default_workers())
    s.add_argument("--out", default="runs", help="parent of the bench directory (default ./runs)")
    s.add_argument("--dir", default=None, help="bench directory to create or continue (default OUT/bench-<time>)")
    s.add_argument("--json", action="store_true", help="print bench.json (progress goes to stderr)")
    _add_llm_options(s)
    s.set_defaults(handler=cmd_bench)

    s = sub.add_parser("review", help="review a paused round in the terminal and give feedback")
    s.add_argument("run_dir", help="the run directory")
    s.set_defaults(handler=cmd_review)

    s = sub.add_parser("ui", help="local web app to browse runs and give feedback")
    s.add_argument("--runs", default="runs", help="directory holding run directories (default ./runs)")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; others need --token)")
    s.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    s.add_argument("--token", default=None, help="access token, required when binding beyond localhost")
    s.set_defaults(handler=cmd_ui)
    return p


if __name__ == "__main__":
    sys.exit(main())

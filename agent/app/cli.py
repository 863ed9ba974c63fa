"""The ``rewardsmith`` command line: tasks, run, resume, validate, evaluate, bench, review, ui.

Bad input (unknown task, malformed task file, fitness function that raises, bad run directory, an
option out of its bounds or ``nan``) ends in one ``error:`` line and a non-zero exit, never a traceback.
Start-up is kept short: this module and the parser import only light modules; each command imports
what it needs when it runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, get_args

from rich.console import Console

from rewardsmith.agent.app.commands.bench_options import BenchOptions
from rewardsmith.agent.app.commands.tune_args import add_tune_parser
from rewardsmith.agent.app.options import add_options, from_args
from rewardsmith.agent.records.config import BackendName, LLMOptions, RunConfig, default_workers
from rewardsmith.core.errors import ConfigError, RewardSmithError
from rewardsmith.core.extras import UI_MODULES, require_extra
from rewardsmith.core.text import printable

if TYPE_CHECKING:  # the command line starts without the task machinery (gymnasium, pydantic): imported when used
    from rewardsmith.envs.tasks import Task

EXIT_OK, EXIT_REJECTED, EXIT_USAGE, EXIT_STOPPED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_FAILED = 1
"""A run or an evaluation finished, but nothing came out of it (no candidate trained, every seed failed)."""


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
        run_dir = getattr(args, "run_dir", None)
        kept = run_dir is not None and Path(run_dir).is_dir()  # a start that recorded nothing leaves no directory
        hint = f"; continue with: rewardsmith resume {run_dir}" if kept else ""
        Console(stderr=True, highlight=False, soft_wrap=True).print(f"interrupted{hint}", markup=False)
        return EXIT_INTERRUPTED


# -- commands ------------------------------------------------------------------------------------
def cmd_tasks(args: argparse.Namespace, console: Console) -> int:
    from rewardsmith.envs.tasks import builtin_task_files, load_task, load_task_file

    if args.metrics:
        return _list_metrics(args, console)
    named = bool(args.names)
    tasks = [load_task(n) for n in args.names] if named else [load_task_file(p) for p in builtin_task_files().values()]
    if args.json:
        print(json.dumps([{"name": t.name, "env": t.env_id, "description": t.description, "fitness": t.fitness_ref,
                           "steps": t.train.steps, "backend_steps": dict(t.train.backend_steps), "train": {"n_envs": t.train.n_envs, "timeout_s": t.train.timeout_s,
                                                             "ppo": t.train.ppo.model_dump(),
                                                             "inherited_from": t.train_origin.body,
                                                             "overrides": list(t.train_origin.overrides)},
                           "fields": [asdict(f) for f in t.adapter.spec.fields]}
                          for t in tasks], indent=2))
        return EXIT_OK
    for t in tasks:
        console.print(f"[bold]{t.name}[/bold]  {t.env_id}  (fitness: {t.fitness_ref}, {t.train.budgets()})")
        console.print(f"  {t.description}", markup=False)
        if named:  # one task asked for by name: its training settings too
            console.print(f"  {settings_line(t)}", markup=False)
        for line in t.adapter.spec.describe().splitlines():
            console.print(f"    {line}", markup=False)
    if not named:
        console.print("one task: rewardsmith tasks NAME; the built-in fitness metrics: rewardsmith tasks --metrics",
                      markup=False)
    return EXIT_OK


def _list_metrics(args: argparse.Namespace, console: Console) -> int:
    """``tasks --metrics``: the built-in fitness metrics a task file may name, from their docstrings."""
    from rewardsmith.envs.fitness import metric_docs

    docs = metric_docs()
    if args.json:
        print(json.dumps([{"name": n, "doc": d} for n, d in docs.items()], indent=2))
        return EXIT_OK
    for name, doc in docs.items():
        console.print(f"[bold]{name}[/bold]  {doc}")
    console.print('or your own: fitness = "file.py:function" (relative to the task file; the function takes one '
                  "episode and returns a float, higher is better)", markup=False)
    return EXIT_OK


def settings_line(task: Task) -> str:
    """The training settings a task uses and where they come from, for the run's header and ``tasks NAME``."""
    ppo = task.train.ppo.model_dump(exclude_defaults=True)
    shown = ", ".join(f"{k} {v}" for k, v in ppo.items()) or "SB3's defaults"
    return (f"training settings: {task.train_origin.describe()} — {task.train.n_envs} envs, "
            f"timeout {task.train.timeout_s} s, PPO {shown}")


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    from rewardsmith.envs.tasks import load_task

    task = load_task(args.task)
    out = out_dir(args.out)
    config = from_args(RunConfig, args, task=str(task.source), llm=_llm_options(args, LLMOptions()))
    _check_config(config)
    if config.dry_run:
        return _dry_run(task, config, out, console)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    run_dir = out / f"{task.name}-{stamp}"
    suffix = 1
    while run_dir.exists():
        suffix += 1
        run_dir = out / f"{task.name}-{stamp}-{suffix}"
    args.run_dir = run_dir
    return _start(run_dir, config, console, new=True)


def _dry_run(task: Task, config: RunConfig, out: Path, console: Console) -> int:
    """``run --dry-run``: what the run checks first (backend, fitness function), then its plan and estimate."""
    from rewardsmith.agent.app.dry_run import dry_run, plan_for
    from rewardsmith.agent.context import check_fitness
    from rewardsmith.agent.design.designers import make_designer
    from rewardsmith.agent.train.backends import resolve_backend
    from rewardsmith.envs.rollout import random_rollout

    config, backend, backend_line = resolve_backend(task, config)  # as a run resolves it: jax without a JAX env is refused
    check_fitness(task, random_rollout(task, n=256, seed=config.seed))  # a typo'd function name fails here, not later
    plan = plan_for(task, backend=config.backend, rounds=config.rounds, samples=config.samples, steps=config.steps,
                    workers=config.workers, baselines=config.baselines, final_seeds=config.final_seeds,
                    videos=config.records_videos)
    label = make_designer(config.designer, llm=config.llm, run_dir=None).label
    return dry_run(task, plan, label, out, console, backend, notes=(backend_line, settings_line(task)))


def cmd_resume(args: argparse.Namespace, console: Console) -> int:
    from rewardsmith.agent.rundir.store import RunStore

    run_dir = Path(args.run_dir)
    record = RunStore(run_dir).load_record()
    config = from_args(RunConfig, args, base=record.config, llm=_llm_options(args, record.config.llm))
    _check_config(config)
    return _start(run_dir, config, console, new=False)


def _start(run_dir: Path, config: RunConfig, console: Console, new: bool) -> int:
    """Run (``new``) or continue the loop in ``run_dir``; a new run that fails or stops before it recorded
    anything leaves no directory behind (:func:`agent.rundir.run.discard_if_empty`)."""
    from rewardsmith.agent.design.designers import make_designer
    from rewardsmith.agent.display import ProgressView
    from rewardsmith.agent.loop import run_loop
    from rewardsmith.agent.rundir.run import discard_if_empty, prepare_run
    from rewardsmith.agent.rundir.store import RunStore
    from rewardsmith.agent.train.backends import resolve_backend
    from rewardsmith.agent.train.plan import rollout_budget
    from rewardsmith.envs.tasks import load_task
    from rewardsmith.sandboxes.isolation import detect_isolation, require_full_isolation

    task = load_task(config.task)
    config, _, backend_line = resolve_backend(task, config)
    budget = rollout_budget(task, config.steps, config.backend)
    if new and config.steps is None:  # pinned in config.json: a resume trains at it even if the task file changes
        config = replace(config, steps=budget.steps)
    designer = make_designer(config.designer, llm=config.llm, run_dir=run_dir)
    isolation = require_full_isolation(detect_isolation(), config.allow_weak_sandbox)
    store = RunStore(run_dir)
    view = ProgressView(console)
    summary = None
    parent_existed = run_dir.parent.is_dir()
    try:
        with store.lock():  # two processes never work on one run
            record = prepare_run(store, config, designer.label, isolation.describe(), task.name)
            view.header([
                f"RewardSmith {'run' if new else 'resume'}: {task.name} ({task.env_id}) → {run_dir}",
                f"designer: {designer.label}",
                *([f"critic: {config.critic} watches {config.critic_frames} frames of each candidate's video "
                   f"(calls bounded to {config.critic_timeout_s:g} s, its tokens to {config.critic_max_tokens:,})"]
                  if config.critic else []),
                f"{isolation.describe()}",
                backend_line,
                settings_line(task),
                f"{config.rounds} rounds × {config.samples} candidates, {budget.steps:,} PPO steps each, "
                f"{config.workers} workers"
                + (", plus the env's own and the sparse reward as baselines" if config.baselines else "")
                + (f"; then the best retrained on {config.final_seeds} fresh seeds" if config.final_seeds else ""),
                *([f"note: {budget.note()}"] if budget.rounded else []),
            ])
            summary = run_loop(store, record, view)
    finally:
        view.stop()
        discarded = new and (summary is None or summary.stopped is not None) and discard_if_empty(
            store, config.samples, remove_parent=not parent_existed)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    assert summary is not None  # run_loop returned (an exception would have left through the finally)
    if discarded:  # stopped before anything was recorded (e.g. the model was unreachable): nothing to resume
        err.print(f"error: {summary.stopped}; nothing was recorded, so no run directory was kept "
                  "(run the same command again)", markup=False)
        return EXIT_USAGE
    view.summary(summary, str(run_dir))
    if summary.stopped:
        err.print(f"stopped: {summary.stopped}; continue with: rewardsmith resume {run_dir}", markup=False)
        return EXIT_STOPPED
    if not any(r.trained for r in summary.rounds):
        err.print(f"error: no candidate was trained and evaluated (see the critiques in {run_dir})", markup=False)
        return EXIT_FAILED
    return EXIT_OK


def cmd_validate(args: argparse.Namespace, console: Console) -> int:
    from dataclasses import asdict as dc_asdict

    from rewardsmith.agent.design.extract import ExtractionError, extract_reward
    from rewardsmith.agent.train.backends import CodeCheck, make_backend
    from rewardsmith.envs.rollout import random_rollout
    from rewardsmith.envs.tasks import load_task
    from rewardsmith.sandboxes.validate import ValidationReport

    task = load_task(args.task)
    source = _read_file(Path(args.file))
    try:
        code = source if Path(args.file).suffix == ".py" else extract_reward(source).code
        sample = random_rollout(task, n=256, seed=0)
        backend = make_backend(args.backend)
        with backend.session(task) as session:
            report = backend.validate(CodeCheck(task=task, code=code, sample=sample,
                                                allow_weak_sandbox=args.allow_weak_sandbox), session)
    except ExtractionError as err:
        report = ValidationReport(accepted=False, stage="extract", reason=err.kind, message=printable(err.message))
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
    from rewardsmith.agent.app.commands.evaluate import evaluate_reward_file

    out_dir(args.out)
    return evaluate_reward_file(args, console)


def cmd_bench(args: argparse.Namespace, console: Console) -> int:
    from rewardsmith.agent.app.commands.bench import bench_command

    out_dir(args.out)
    if args.dir:
        out_dir(args.dir, "--dir")
    return bench_command(args, console, _llm_options(args, LLMOptions()))


def cmd_tune(args: argparse.Namespace, console: Console) -> int:
    from rewardsmith.agent.app.commands.tune import cmd_tune as tune

    return tune(args, console)


def cmd_review(args: argparse.Namespace, console: Console) -> int:
    from rewardsmith.agent.review.gate import open_session
    from rewardsmith.agent.review.reviewers.terminal import TerminalReviewer
    from rewardsmith.agent.rundir.store import RunStore

    store = RunStore(Path(args.run_dir))
    session = open_session(store)
    if session.request.mode == "web":  # its run waits (holding the run) for exactly this review
        TerminalReviewer.interactive().review(session)
    else:
        with store.lock():
            TerminalReviewer.interactive().review(session)
    console.print(f"a run waiting with --review web continues now; otherwise: rewardsmith resume {args.run_dir}",
                  markup=False)
    return EXIT_OK


def cmd_ui(args: argparse.Namespace, console: Console) -> int:
    require_extra("ui", "rewardsmith ui", *UI_MODULES)
    from rewardsmith.agent.app.web.server import serve

    return serve(Path(args.runs), args.host, args.port, Path(args.token_file) if args.token_file else None, console,
                 allow_hosts=tuple(args.allow_host))


def cmd_export(args: argparse.Namespace, console: Console) -> int:
    from rewardsmith.agent.app.commands.export import export_run

    result = export_run(Path(args.run_dir), Path(args.out) if args.out else None, args.candidate)
    m = result.manifest
    console.print(f"exported {m.candidate} of {args.run_dir} ({m.task}, {m.env_id}) → {result.files.dir}", markup=False)
    console.print(f"train with it: see {result.files.readme}", markup=False)
    return EXIT_OK

# -- helpers -------------------------------------------------------------------------------------
def _llm_options(args: argparse.Namespace, base: LLMOptions) -> LLMOptions:
    """``base`` with the LLM options given on the command line (``resume`` may raise the caps)."""
    options = from_args(LLMOptions, args, base=base)  # numbers checked there: finite, within the field's bounds
    if (options.price_in is None) != (options.price_out is None):
        raise ConfigError("give both --price-in and --price-out (US dollars per million tokens), or neither")
    return options


def _add_llm_options(s: argparse.ArgumentParser, resume: bool = False) -> None:
    g = s.add_argument_group("LLM designer (--designer <litellm model>, e.g. openai/gpt-4o-mini; keys from the "
                             "provider's environment variables)")
    add_options(g, LLMOptions, resume=resume)


def _check_config(config: RunConfig) -> None:
    """What no single option's bounds say (those are checked by ``from_args``): options that need each other."""
    if config.preference_only and config.review == "none":
        raise ConfigError("--preferences-only needs a reviewer: --review cli|web|oracle")
    # Extras a run needs only later (the designer's and the backend's are checked when they are made).
    if config.executor == "ray":
        require_extra("ray", "--executor ray", "ray")
    if config.review == "web":
        require_extra("ui", "--review web (reviewed in rewardsmith ui)", *UI_MODULES)
    if config.critic is not None:
        if not config.critic.strip() or any(c.isspace() for c in config.critic):
            raise ConfigError(f"--critic {config.critic!r}: a litellm model string has no spaces, e.g. 'openai/gpt-4o-mini'")
        if config.videos is False:
            raise ConfigError("--critic watches the rollout videos: drop --no-video")
        require_extra("llm", f"--critic {config.critic}", "litellm", "openai")


def out_dir(value: str, flag: str = "--out") -> Path:
    """The folder ``flag`` names (it may not exist yet); a file, or a path through a file, is a one-line error."""
    path = Path(value)
    existing = next((p for p in (path, *path.parents) if p.exists()), Path("."))
    if not existing.is_dir():
        where = "" if existing == path else f" ({existing} is a file)"
        raise ConfigError(f"{flag} {value}: not a folder{where}; give the folder to write into")
    return path


class _Parser(argparse.ArgumentParser):
    """argparse's parser with its usage errors in one line, like every other bad input (exit 2)."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"error: {message} (see {self.prog} --help)\n")
        sys.exit(EXIT_USAGE)


class _Version(argparse.Action):
    """``--version``: the installed versions, looked up only when asked (not on every start)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the versions of RewardSmith and its libraries")

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> NoReturn:
        from rewardsmith.agent.rundir.run import versions

        v = versions()
        print(f"rewardsmith {v.pop('rewardsmith')} ({', '.join(f'{k} {x}' for k, x in v.items())})")
        parser.exit()


def _read_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror if isinstance(exc, OSError) else exc}") from None


def _parser() -> argparse.ArgumentParser:
    """Every command's arguments, built from light modules only: a command's heavy imports happen when it runs."""
    p = _Parser(prog="rewardsmith", description="Design reward functions from a task description.")
    p.add_argument("--version", action=_Version)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("tasks", help="list built-in tasks with their state fields (one task: tasks NAME)")
    s.add_argument("names", nargs="*", metavar="NAME", help="only these tasks (built-in names or task files)")
    s.add_argument("--metrics", action="store_true", help="list the built-in fitness metrics a task file may name")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(handler=cmd_tasks)

    s = sub.add_parser("run", help="run the reward-design loop on a task")
    s.add_argument("task", help="built-in task name or path to a .toml task file")
    add_options(s, RunConfig)
    s.add_argument("--out", default="runs", help="parent directory of the run directory (default ./runs)")
    _add_llm_options(s)
    s.set_defaults(handler=cmd_run)

    s = sub.add_parser("resume", help="continue an interrupted run without redoing finished work")
    s.add_argument("run_dir", help="the run directory")
    add_options(s, RunConfig, resume=True)
    _add_llm_options(s, resume=True)
    s.set_defaults(handler=cmd_resume)

    s = sub.add_parser("validate", help="sandbox verdict for a reward file (exit 0 accepted, 1 rejected)")
    s.add_argument("task")
    s.add_argument("file", help="a .py reward module, or a response text with a ```python block")
    s.add_argument("--backend", choices=get_args(BackendName), default="sb3",
                   help="sb3: the numpy worker (default); jax: also trace and export it with jax.numpy and check "
                        "the exported module, as the JAX training backend does")
    s.add_argument("--allow-weak-sandbox", action="store_true",
                   help="run the probe even below bubblewrap + seccomp + rlimits (see sandboxes/README.md)")
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
    add_options(s, BenchOptions)
    s.add_argument("--out", default="runs", help="parent of the bench directory (default ./runs)")
    s.add_argument("--dir", default=None, help="bench directory to create or continue (default OUT/bench-<time>)")
    s.add_argument("--json", action="store_true", help="print bench.json (progress goes to stderr)")
    _add_llm_options(s)
    s.set_defaults(handler=cmd_bench)

    add_tune_parser(sub, cmd_tune)

    s = sub.add_parser("review", help="review a paused round in the terminal and give feedback")
    s.add_argument("run_dir", help="the run directory")
    s.set_defaults(handler=cmd_review)

    s = sub.add_parser("ui", help="local web app to browse runs and give feedback")
    s.add_argument("--runs", default="runs", help="directory holding run directories (default ./runs)")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    s.add_argument("--token-file", default=None, help="file holding the access token (default: "
                   "$REWARDSMITH_UI_TOKEN, else a fresh random token printed with the URL)")
    s.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="another host name browsers use to reach the UI (repeatable)")
    s.set_defaults(handler=cmd_ui)

    s = sub.add_parser("export", help="the best reward as a folder to train with in your own code (SB3 policy, README)")
    s.add_argument("run_dir", help="the run directory")
    s.add_argument("--out", default=None, help="folder to write (default RUN_DIR/export)")
    s.add_argument("--candidate", default=None, metavar="ID", help="export this candidate (rRRcKK) instead of the best")
    s.set_defaults(handler=cmd_export)
    return p


if __name__ == "__main__":
    sys.exit(main())

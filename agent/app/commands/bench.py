"""``rewardsmith bench``: the human-normalized score (HNS) of designed rewards, per task and overall.

Per task, in ``<bench dir>/<task>/``:

1. **design** — the reward-design loop, exactly as ``rewardsmith run`` runs it (``design/`` is a run
   directory), with training seed ``seed``; the best reward is chosen by fitness on the *selection*
   episodes.
2. **final comparison** — that reward, the env's own reward ("human") and the sparse fitness reward
   are each trained afresh on ``seeds`` new training seeds at the task's budget and evaluated on the
   same *held-out* episodes (``final/<arm>/seed_N/``). Fresh seeds matter: the design run's score of
   its best reward is inflated by selection (Eureka issue #51: selected at 6.45, rerun 5.30 ± 0.65).
3. **scores** — ``HNS = (F_designed − F_sparse) / |F_human − F_sparse|`` on the arms' mean held-out
   fitness, the spread of the per-seed HNS, and the gap between the fitness seen at selection and the
   retrained held-out fitness.

Overall: mean HNS clipped to [0, 3] (as in the Eureka paper) and unclipped, and how many tasks reach
HNS ≥ 1. ``bench.json`` and ``bench.md`` are written atomically; re-running with ``--dir`` continues an
interrupted bench without redoing finished training.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from pydantic import TypeAdapter
from rich.console import Console
from rich.live import Live

from rewardsmith.agent.app.commands.bench_options import BenchOptions
from rewardsmith.agent.app.options import check_numbers, from_args
from rewardsmith.agent.display import ProgressView
from rewardsmith.agent.records.config import LLMOptions, RunConfig
from rewardsmith.agent.records.results import BaselineVerdict, RunSummary
from rewardsmith.agent.records.results import FinalArm as ArmScore
from rewardsmith.agent.records.train import Compute
from rewardsmith.agent.report.final import ARMS, final_seeds
from rewardsmith.agent.rundir.layout import CandidateFiles, parse_candidate_id
from rewardsmith.agent.rundir.run import prepare_run, versions
from rewardsmith.agent.rundir.store import RunStore
from rewardsmith.agent.train.backends import Backend, resolve_backend
from rewardsmith.agent.train.executors.local import LocalExecutor
from rewardsmith.agent.train.pipelines import Trainer
from rewardsmith.agent.train.targets import TrainSettings
from rewardsmith.core.atomic import read_record, write_json, write_text
from rewardsmith.core.errors import ConfigError
from rewardsmith.envs.tasks import Task, load_task

DEFAULT_TASKS = ("halfcheetah", "hopper", "reacher")
HNS_CLIP = (0.0, 3.0)


@dataclass(frozen=True, kw_only=True)
class TaskScore:
    """The benchmark result of one task."""

    task: str
    env: str
    fitness: str
    """The fitness metric and the first line of what it measures."""
    steps: int
    design_dir: str
    best_id: str | None
    candidates: int
    candidates_trained: int
    selection_fitness: float | None
    """The chosen reward's fitness on the selection episodes, in the design run (the number it was chosen by)."""
    design_heldout_fitness: float | None
    """The same policy on the held-out episodes."""
    designed: ArmScore
    human: ArmScore
    sparse: ArmScore
    hns: float | None
    hns_std: float | None
    """Spread of the HNS over the training seeds of all three arms (:func:`agent.report.scores.hns_spread`)."""
    hns_note: str
    gap: float | None
    """selection_fitness − designed.mean: how much selection flattered the chosen reward."""
    wall_s: float
    load_avg: tuple[float, float]
    """1-minute load average when the task started and ended (2 cores: above ~2.2 means other work ran too)."""
    design_compute: Compute = field(default_factory=Compute)
    """What the design loop's candidates spent (env-steps, CPU-s of every job; per round in its summary)."""
    final_compute: Compute = field(default_factory=Compute)
    """What the final comparison's trainings and evaluations spent."""
    hns_meaningful: bool = True
    """False when the baselines are not told apart by the seeds or the env's own reward trained worse than sparse."""
    verdicts: tuple[BaselineVerdict, ...] = ()
    """The designed reward against each baseline over the seeds: better / tied / worse."""
    backend: str = "sb3"
    """The backend every training of the task ran on (``--backend`` resolved; ``auto`` says which it picked)."""


@dataclass(frozen=True, kw_only=True)
class BenchReport:
    """``bench.json``: everything the Markdown table is made from."""

    command: str
    created: str
    machine: str
    versions: dict[str, str]
    designer: str
    options: BenchOptions
    tasks: tuple[TaskScore, ...]
    mean_hns_clipped: float | None
    """Mean over tasks with a defined HNS of HNS clipped to [0, 3] (Eureka's aggregate)."""
    mean_hns: float | None
    tasks_hns_at_least_1: int
    tasks_scored: int
    wall_s: float


# -- the benchmark -------------------------------------------------------------------------------
def run_bench(options: BenchOptions, console: Console, command: str, live: bool = True) -> BenchReport:
    """Design, retrain and score every task; write ``bench.json`` and ``bench.md``; return the report."""
    _check(options)
    tasks = [load_task(t) for t in options.tasks]  # every task file checked before any training
    _claim_dir(options)
    started = time.monotonic()
    view = _BenchView(console, live=live)
    view.header([f"RewardSmith bench → {options.out_dir}"])
    scores: list[TaskScore] = []
    designer = ""
    for i, task in enumerate(tasks, 1):
        config, backend, backend_line = resolve_backend(task, _design_config(task, options))
        view.header([f"── bench {i}/{len(tasks)}: {task.name} ({task.env_id}), "
                     f"{TrainSettings.for_run(task, config).steps:,} PPO steps per training run; {backend_line} ──"])
        score, designer = _bench_task(task, config, backend, options, view)
        scores.append(score)
        view.header([_one_line(score)])
    report = _aggregate(options, scores, command, designer, time.monotonic() - started)
    write_json(options.out_dir / "bench.json", report)
    write_text(options.out_dir / "bench.md", to_markdown(report))
    return report


def _bench_task(task: Task, config: RunConfig, backend: Backend, options: BenchOptions,
                view: _BenchView) -> tuple[TaskScore, str]:
    """One task's row: ``config`` is the design loop's, its backend resolved (``backend``)."""
    started, load0 = time.monotonic(), os.getloadavg()[0]
    root = options.out_dir / task.name
    ### 1. Design: the same loop `rewardsmith run` runs, on the bench's backend
    summary, designer = _design(task, config, root / "design", view)
    ### 2. Final comparison: designed, human and sparse on fresh training seeds, as a run's (agent.report.final)
    settings = TrainSettings.for_run(task, config)
    final_store = RunStore(root)  # final/<arm>/seed_N/ beside design/
    trainer = Trainer(task=task, settings=settings, backend=backend, executor=LocalExecutor(options.workers),
                      store=final_store, on_event=view.executor_event)
    best = _best_files(root / "design", summary)
    view.phase_started(f"{task.name}: final comparison on {backend.name}, {options.seeds} fresh training seeds per "
                       "reward")
    result = final_seeds(trainer, best, options.seeds)
    view.stop()
    ### 3. Scores
    assert result is not None  # options.seeds >= 1
    seeds, steps = result.seeds, settings.steps
    by_arm = {a.arm: a for a in (result.designed, result.human, result.sparse) if a is not None}
    gap = (summary.best_selection_fitness - result.designed.mean
           if summary.best_selection_fitness is not None and result.designed.mean is not None else None)
    trained = sum(r.trained for r in summary.rounds)
    design = sum((RunStore(root / "design").round_compute(r.round) for r in summary.rounds), Compute())
    targets = [final_store.final_files(arm, s) for arm in ARMS for s in seeds]
    score = TaskScore(
        task=task.name, env=task.env_id, fitness=_fitness_line(task), steps=steps, design_dir=str(root / "design"),
        best_id=summary.best_id, candidates=sum(r.candidates for r in summary.rounds), candidates_trained=trained,
        selection_fitness=summary.best_selection_fitness, design_heldout_fitness=summary.best_heldout_fitness,
        designed=by_arm["designed"], human=by_arm["human"], sparse=by_arm["sparse"], backend=backend.name,
        hns=result.hns, hns_std=result.hns_std, hns_note=result.note, hns_meaningful=result.hns_meaningful,
        verdicts=result.verdicts, gap=gap,
        wall_s=time.monotonic() - started, load_avg=(round(load0, 2), round(os.getloadavg()[0], 2)),
        design_compute=design, final_compute=sum((final_store.compute_of(t) for t in targets), Compute()),
    )
    return score, designer


def _design_config(task: Task, options: BenchOptions) -> RunConfig:
    return RunConfig(task=str(task.source), designer=options.designer, rounds=options.rounds,
                     samples=options.samples, steps=options.steps, seed=options.seed, workers=options.workers,
                     backend=options.backend, baselines=False, llm=options.llm, fix_attempts=options.fix_attempts,
                     final_seeds=0)  # the bench's own final comparison retrains the best on fresh seeds


def _best_files(run_dir: Path, summary: RunSummary) -> CandidateFiles | None:
    ids = parse_candidate_id(summary.best_id) if summary.best_id else None
    return RunStore(run_dir).files(*ids) if ids is not None else None


def _design(task: Task, config: RunConfig, run_dir: Path, view: _BenchView) -> tuple[RunSummary, str]:
    from rewardsmith.agent.design.designers import make_designer
    from rewardsmith.agent.loop import run_loop
    from rewardsmith.sandboxes.isolation import detect_isolation

    store = RunStore(run_dir)
    # continuing an interrupted bench: the loop redoes nothing finished
    label = make_designer(config.designer, llm=config.llm, run_dir=run_dir).label
    record = prepare_run(store, config, label, detect_isolation().describe(), task.name)
    summary = run_loop(store, record, view)
    view.stop()
    return summary, record.designer_label


def _aggregate(options: BenchOptions, scores: list[TaskScore], command: str, designer: str,
               wall_s: float) -> BenchReport:
    defined = [s.hns for s in scores if s.hns is not None and s.hns_meaningful]
    clipped = [float(np.clip(v, *HNS_CLIP)) for v in defined]
    return BenchReport(
        command=command, created=datetime.now(UTC).isoformat(timespec="seconds"), machine=machine_description(),
        versions=versions(), designer=designer, options=options, tasks=tuple(scores),
        mean_hns_clipped=float(np.mean(clipped)) if clipped else None,
        mean_hns=float(np.mean(defined)) if defined else None,
        tasks_hns_at_least_1=sum(v >= 1.0 for v in defined), tasks_scored=len(defined), wall_s=wall_s,
    )


def _claim_dir(options: BenchOptions) -> None:
    """Record the options in the bench directory; continuing one made with other options would mix results."""
    path = options.out_dir / "options.json"
    mine = replace(options, workers=1)  # the number of workers does not change any result
    if path.is_file():
        theirs = replace(read_record(path, BenchOptions), workers=1)
        if theirs != mine:
            raise ConfigError(f"{options.out_dir} holds a bench with other options ({theirs}); "
                              "use a new --dir or the same options")
    write_json(path, options)


def _fitness_line(task: Task) -> str:
    doc = (getattr(task.fitness, "__doc__", None) or "").strip().splitlines()
    return f"{task.fitness_ref}: {doc[0]}" if doc else task.fitness_ref


def _check(options: BenchOptions) -> None:
    if not options.tasks:
        raise ConfigError("bench needs at least one task")
    check_numbers(options)  # from_args did for the command line; options made in code are checked here


# -- the machine and versions, so a number can be traced to where it was measured ----------------
def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        names = [ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                 if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0))
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cores} cores ({cpu}), {mem_gib:.0f} GiB RAM, {platform.system()} {platform.release()}, " \
           f"Python {platform.python_version()}"


# -- output --------------------------------------------------------------------------------------
def _fmt(value: float | None, std: float | None = None, digits: int = 4) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}g}" + (f" ± {std:.2g}" if std is not None else "")


def _gap(gap: float | None) -> str:
    return "–" if gap is None else f"{gap:+.3g}"


def _arm_cell(arm: ArmScore) -> str:
    failed = sum(s != "ok" for s in arm.status)
    return _fmt(arm.mean, arm.std) + (f" ({failed} of {len(arm.seeds)} seeds failed)" if failed else "")


def _verdicts(s: TaskScore) -> str:
    return " / ".join(v.verdict for v in s.verdicts) or "–"


def _hns_cell(s: TaskScore) -> str:
    return _fmt(s.hns, s.hns_std, 3) if s.hns_meaningful else "not meaningful"


def _one_line(s: TaskScore) -> str:
    return (f"{s.task}: {_verdicts(s)} vs human / sparse, HNS {_hns_cell(s)}; designed {_arm_cell(s.designed)}, human "
            f"{_arm_cell(s.human)}, sparse {_arm_cell(s.sparse)} ({s.wall_s / 60:.1f} min)")


def to_markdown(r: BenchReport) -> str:
    """The table and the facts needed to reproduce it (command, seeds, machine, versions)."""
    o = r.options
    final = f"{o.seed + 1}…{o.seed + o.seeds}" if o.seeds > 1 else str(o.seed + 1)
    lines = [
        "| task | backend | PPO steps | designed | human (env reward) | sparse (fitness) | vs human / vs sparse | HNS | "
        "selection → retrained (gap) |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|",
    ]
    for s in r.tasks:
        sel = f"{_fmt(s.selection_fitness)} → {_fmt(s.designed.mean)} ({_fmt(s.gap, digits=3)})"
        lines.append(f"| {s.task} | {s.backend} | {s.steps:,} | {_arm_cell(s.designed)} | {_arm_cell(s.human)} | "
                     f"{_arm_cell(s.sparse)} | {_verdicts(s)} | {_hns_cell(s)} | {sel} |")
    lines += [
        "",
        f"- Mean HNS clipped to [0, 3]: **{_fmt(r.mean_hns_clipped, digits=3)}**; unclipped: "
        f"{_fmt(r.mean_hns, digits=3)}; tasks with HNS ≥ 1: **{r.tasks_hns_at_least_1} of {r.tasks_scored}** "
        f"scored ({len(r.tasks)} run).",
        f"- Fitness columns: held-out fitness, mean ± standard deviation over training seeds {final} "
        f"({o.seeds} per reward), each the mean of the task's held-out evaluation episodes. A verdict is better / "
        "worse when the two means differ by more than their standard deviations over seeds added up, tied "
        "otherwise. HNS = (designed − sparse) / |human − sparse| on those means, with its spread when each arm's "
        "seeds are resampled; shown only where the env's own reward beat the sparse one by more than their "
        "spreads (else the scale divides by noise or points the wrong way), and only those are averaged.",
        f"- Designer: {r.designer}; design loop: {o.rounds} rounds × {o.samples} candidates, training seed {o.seed}, "
        "best chosen on the selection episodes. \"selection\" is that chosen reward's selection fitness, "
        "\"retrained\" its held-out mean on the fresh seeds; the gap is how much selection flattered it.",
        "",
        "| task | fitness | candidates trained | chosen | notes | compute: design / final | wall | load avg (start → end) |",
        "|---|---|---:|---|---|---|---:|---|",
    ]
    for s in r.tasks:
        d, f = s.design_compute, s.final_compute
        spent = f"{d.env_steps:,} env-steps, {d.cpu_s / 60:.1f} CPU-min / {f.env_steps:,}, {f.cpu_s / 60:.1f} CPU-min"
        lines.append(f"| {s.task} | {s.fitness} | {s.candidates_trained} of {s.candidates} | {s.best_id or '–'} | "
                     f"{s.hns_note} | {spent} | {s.wall_s / 60:.1f} min | {s.load_avg[0]} → {s.load_avg[1]} |")
    lines += [
        "",
        f"- Command: `{r.command}`",
        f"- Machine: {r.machine}",
        f"- Versions: {', '.join(f'{k} {v}' for k, v in r.versions.items())}",
        f"- Finished {r.created}; total wall time {r.wall_s / 60:.1f} min.",
    ]
    return "\n".join(lines) + "\n"


def _print_table(report: BenchReport, console: Console) -> None:
    from rich.table import Table

    table = Table(title="RewardSmith bench: held-out fitness (mean ± std over training seeds)", title_justify="left")
    for col in ("task", "designed", "human", "sparse", "vs human / vs sparse", "HNS", "selection → retrained"):
        table.add_column(col, justify="left" if col == "task" else "right")
    for s in report.tasks:
        table.add_row(s.task, _arm_cell(s.designed), _arm_cell(s.human), _arm_cell(s.sparse), _verdicts(s),
                      _hns_cell(s), f"{_fmt(s.selection_fitness)} → {_fmt(s.designed.mean)}")
    console.print(table)
    console.print(f"mean HNS clipped to [0, 3]: {_fmt(report.mean_hns_clipped, digits=3)}; unclipped: "
                  f"{_fmt(report.mean_hns, digits=3)}; tasks with HNS >= 1: {report.tasks_hns_at_least_1} of "
                  f"{report.tasks_scored}", markup=False)


class _BenchView(ProgressView):
    """The run's progress view, plus a titled phase for the final comparison."""

    def phase_started(self, title: str) -> None:
        self.stop()
        self.rows = {}
        self.title = title
        if self.live:
            self._live = Live(self._table(), console=self.console, refresh_per_second=4, transient=False)
            self._live.start()
        else:
            self.console.print(f"── {title} ──", highlight=False)


# -- the command ---------------------------------------------------------------------------------
def bench_command(args: argparse.Namespace, console: Console, llm: LLMOptions) -> int:
    """``rewardsmith bench``: progress on the terminal (stderr with ``--json``), the table at the end."""
    tasks = tuple(args.tasks) or DEFAULT_TASKS
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out_dir = Path(args.dir) if args.dir else Path(args.out) / f"bench-{stamp}"
    options = from_args(BenchOptions, args, tasks=tasks, out_dir=out_dir.resolve(), llm=llm)
    command = " ".join(["rewardsmith bench", *tasks, f"--designer {options.designer}", f"--rounds {options.rounds}",
                        f"--samples {options.samples}", f"--seeds {options.seeds}", f"--seed {options.seed}",
                        f"--backend {options.backend}",
                        *([f"--steps {options.steps}"] if options.steps else []), f"--workers {options.workers}",
                        *([f"--api-base {llm.api_base}"] if llm.api_base else [])])
    progress = Console(stderr=True, highlight=False, soft_wrap=True) if args.json else console
    try:
        report = run_bench(options, progress, command, live=not args.json)
    except KeyboardInterrupt:
        progress.print(f"continue with: {command} --dir {options.out_dir}", markup=False)
        raise
    if args.json:
        print(TypeAdapter(BenchReport).dump_json(report, indent=2).decode())
        return 0
    _print_table(report, console)
    console.print(f"written: {options.out_dir / 'bench.md'} and bench.json", markup=False)
    return 0


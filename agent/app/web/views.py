"""What the web pages show, read from run directories: typed view records, highlighted code, live progress.

Plots are PNGs drawn by :mod:`agent.report.plots` (the same figures the run directory holds).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from markupsafe import Markup
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import DiffLexer, PythonLexer

from rewardsmith.agent.records.results import CandidateResult, RoundFeedback, RunSummary, Usage
from rewardsmith.agent.records.review import HumanFeedback, ReviewRequest
from rewardsmith.agent.review.gate import load_result
from rewardsmith.agent.rundir.store import RunStore, TargetFiles
from rewardsmith.core.errors import RewardSmithError

CODE_CSS = HtmlFormatter(cssclass="hl").get_style_defs(".hl")
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")


@dataclass(frozen=True, kw_only=True)
class RunRow:
    name: str
    task: str
    designer: str
    created: str
    rounds_done: int
    rounds_planned: int
    state: str
    best_fitness: float | None


@dataclass(frozen=True, kw_only=True)
class RoundRow:
    round: int
    candidates: int
    trained: int
    best_id: str | None
    best_fitness: float | None
    source: str
    waiting: bool


@dataclass(frozen=True, kw_only=True)
class Card:
    result: CandidateResult
    video: str | None
    """URL of the video, if one was recorded."""
    video_note: str
    shares: list[tuple[str, float, str]]
    """(component, share of the return, bar colour)."""
    code_html: Markup


def list_runs(runs_dir: Path) -> list[RunRow]:
    rows = []
    for store in RunStore.runs_in(runs_dir):
        try:
            record = store.load_record()
            summary = store.load_summary()
        except RewardSmithError:
            continue
        done = [r.round for r in rounds(store)]
        rows.append(RunRow(name=store.root.name, task=record.task_name, designer=record.designer_label, created=record.created,
                           rounds_done=len(done), rounds_planned=record.config.rounds, state=run_state(store, summary),
                           best_fitness=summary.best_selection_fitness if summary else None))
    return rows


def run_state(store: RunStore, summary: RunSummary | None) -> str:
    """``running``, ``waiting for review…``, ``finished``, or how a run that no process holds any more stopped."""
    waiting = store.paused_round()
    if waiting is not None:
        return f"waiting for review of round {waiting}"
    if summary is not None and not store.is_held():
        return "finished" if summary.finished else f"stopped early ({summary.stopped or 'before its last round'})"
    if store.is_held():
        return "running"
    done = [n for n in store.rounds() if store.load_feedback(n) is not None]
    if not store.rounds():
        return "stopped before round 1 (failed or interrupted at start; see its terminal output)"
    return f"stopped after round {done[-1]}" if done else f"stopped in round {store.rounds()[-1]}"


@dataclass(frozen=True, kw_only=True)
class LiveRow:
    key: str
    fraction: float
    done: int
    total: int


def live_progress(store: RunStore) -> list[LiveRow]:
    """Trainings under way (a ``progress.json`` but no ``metrics.json`` yet) in the latest round, baselines, final."""
    from rewardsmith.core.atomic import read_record
    from rewardsmith.envs.backends.records import Progress

    targets: list[tuple[str, TargetFiles]] = []
    if store.rounds():
        rnd = store.rounds()[-1]
        targets += [(r.candidate.id, store.files_of(r.candidate)) for r in store.round_results(rnd)]
    targets += [(kind, store.baseline_files(kind)) for kind in ("human", "sparse")]
    record = store.load_record()
    targets += [(f"{arm} seed {s}", store.final_files(arm, s)) for arm in ("designed", "human", "sparse")
                for s in range(record.config.seed + 1, record.config.seed + 1 + record.config.final_seeds)]
    rows = []
    for key, files in targets:
        if not files.progress.is_file() or files.metrics.is_file():
            continue
        try:
            pr = read_record(files.progress, Progress)
        except (OSError, ValueError):
            continue
        rows.append(LiveRow(key=key, fraction=min(1.0, pr.done / max(pr.total, 1)), done=pr.done, total=pr.total))
    return rows


def rounds(store: RunStore) -> list[RoundRow]:
    out = []
    numbers = store.rounds()
    for n in numbers:
        results = store.round_results(n)
        feedback: RoundFeedback | None = store.load_feedback(n)
        out.append(RoundRow(round=n, candidates=len(results), trained=sum(r.fitness is not None for r in results),
                            best_id=feedback.best_id if feedback else None, best_fitness=feedback.best_fitness if feedback else None,
                            source=feedback.source if feedback else "-", waiting=store.paused_round() == n))
    return out


def cards(store: RunStore, run: str, n: int, request: ReviewRequest | None) -> list[Card]:
    results = store.round_results(n)
    if request is not None and request.incumbent and all(r.candidate.id != request.incumbent for r in results):
        results.append(load_result(store, request.incumbent))
    return [card(store, run, r) for r in results]


def card(store: RunStore, run: str, r: CandidateResult) -> Card:
    video = f"/runs/{run}/candidates/{r.candidate.id}/video.mp4" if store.video_of(r.candidate) else None
    note = ""
    if video is None:
        try:
            vr = store.outcome(store.files_of(r.candidate)).video
        except RewardSmithError:
            vr = None
        note = f"no video: {vr.status} ({vr.error})" if vr is not None else "no video recorded"
    shares = sorted((r.critique.shares if r.critique else {}).items(), key=lambda kv: -kv[1])
    coloured = [(name, share, PALETTE[i % len(PALETTE)]) for i, (name, share) in enumerate(shares)]
    return Card(result=r, video=video, video_note=note, shares=coloured, code_html=code_html(r.candidate.code or ""))


def code_html(code: str) -> Markup:
    return Markup(highlight(code, PythonLexer(), HtmlFormatter(cssclass="hl", linenos="inline")))


def pair_diff_html(store: RunStore, a: CandidateResult, b: CandidateResult) -> Markup | None:
    """The unified diff from ``a``'s code to ``b``'s (any two candidates), highlighted."""
    diff = "".join(difflib.unified_diff((a.candidate.code or "").splitlines(keepends=True),
                                        (b.candidate.code or "").splitlines(keepends=True),
                                        store.code_label(a.candidate.id), store.code_label(b.candidate.id)))
    return Markup(highlight(diff, DiffLexer(), HtmlFormatter(cssclass="hl"))) if diff else None


def diff_html(store: RunStore, r: CandidateResult) -> Markup | None:
    if r.candidate.parent is None or r.candidate.code is None:
        return None
    try:
        parent = load_result(store, r.candidate.parent)
    except RewardSmithError:
        return None
    diff = "".join(difflib.unified_diff((parent.candidate.code or "").splitlines(keepends=True),
                                        r.candidate.code.splitlines(keepends=True),
                                        store.code_label(r.candidate.parent), store.code_label(r.candidate.id)))
    return Markup(highlight(diff, DiffLexer(), HtmlFormatter(cssclass="hl"))) if diff else None


def review_state(store: RunStore, n: int) -> tuple[ReviewRequest | None, HumanFeedback | None]:
    return store.load_review_request(n), store.load_human(n)


def cost(store: RunStore) -> dict[str, str]:
    """What the run has spent so far: training steps and time, and designer usage when recorded."""
    steps = 0
    wall = 0.0
    usage = Usage()
    for row in rounds(store):
        for r in store.round_results(row.round):
            usage = usage + r.candidate.usage
            if r.training is not None:
                steps += r.training.steps_done
                wall += r.training.wall_s
    out = {"environment steps trained": f"{steps:,}", "training time": f"{wall / 60:.1f} min",
           "designer calls": f"{usage.calls} ({usage.tokens:,} tokens)"}
    out["designer cost"] = f"${usage.cost:.4f}" if usage.cost is not None else "no price known (or no LLM)"
    return out

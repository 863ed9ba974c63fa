"""What the web pages show, read from run directories: typed view records, highlighted code, SVG plots."""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from html import escape
from pathlib import Path

from markupsafe import Markup
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import DiffLexer, PythonLexer

from agent.human import HumanFeedback, ReviewRequest
from agent.records import CandidateResult, RoundFeedback, RunSummary, Usage
from agent.review import load_result
from agent.store import RunStore
from core.errors import RewardSmithError

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
    waiting = store.paused_round()
    if waiting is not None:
        return f"waiting for review of round {waiting}"
    return "finished" if summary is not None else "running or stopped"


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


# -- plots ---------------------------------------------------------------------------------------
def line_plot(series: dict[str, list[tuple[float, float]]], width: int = 560, height: int = 220,
              x_label: str = "", y_label: str = "", scatter: frozenset[str] = frozenset()) -> Markup:
    """A small SVG line chart with a legend; points are (x, y); series named in ``scatter`` get dots only."""
    points = [p for s in series.values() for p in s if math.isfinite(p[1])]
    if not points:
        return Markup('<p class="muted">nothing to plot yet</p>')
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    y0, y1 = min(p[1] for p in points), max(p[1] for p in points)
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)
    left, right, top, bottom = 56, 12, 12, 36

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (width - left - right)

    def sy(y: float) -> float:
        return height - bottom - (y - y0) / (y1 - y0) * (height - top - bottom)

    parts = [f'<svg class="plot" width="{width}" height="{height + 18 * len(series)}" role="img">',
             f'<rect x="{left}" y="{top}" width="{width - left - right}" height="{height - top - bottom}" '
             'fill="none" stroke="#ccc"/>',
             f'<text x="4" y="{top + 10}" font-size="11">{y1:.4g}</text>',
             f'<text x="4" y="{height - bottom}" font-size="11">{y0:.4g}</text>',
             f'<text x="{left}" y="{height - bottom + 14}" font-size="11">{x0:.4g}</text>',
             f'<text x="{width - right - 40}" y="{height - bottom + 14}" font-size="11">{x1:.4g}</text>',
             f'<text x="{left + 60}" y="{height - 6}" font-size="11">{escape(x_label)}</text>',
             f'<text x="4" y="{top + 24}" font-size="11">{escape(y_label)}</text>']
    for i, (name, pts) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        good = [(sx(x), sy(y)) for x, y in pts if math.isfinite(y)]
        if len(good) > 1 and name not in scatter:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in good)
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
        parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>' for x, y in good]
        ly = height + 14 + 18 * i
        parts.append(f'<rect x="{left}" y="{ly - 9}" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{left + 16}" y="{ly}" font-size="12">{escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def fitness_plot(store: RunStore) -> Markup:
    best: list[tuple[float, float]] = []
    every: list[tuple[float, float]] = []
    for row in rounds(store):
        results = store.round_results(row.round)
        every += [(float(row.round), float(r.fitness)) for r in results if r.fitness is not None]
        if row.best_fitness is not None:
            best.append((float(row.round), float(row.best_fitness)))
    return line_plot({"selected best": best, "every candidate": every}, x_label="round", y_label="fitness",
                     scatter=frozenset({"every candidate"}))


def training_plot(r: CandidateResult) -> Markup:
    training = r.training
    if training is None or not training.checkpoints:
        return Markup('<p class="muted">no training statistics</p>')
    series = {name: [(float(cp.timesteps), cp.component_returns[name]) for cp in training.checkpoints
                     if name in cp.component_returns] for name in training.components}
    series["task fitness"] = [(float(cp.timesteps), cp.fitness) for cp in training.checkpoints
                              if cp.fitness is not None]
    return line_plot(series, x_label="environment steps", y_label="return per episode")


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

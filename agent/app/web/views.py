"""What the web pages show, read from run directories: typed view records, highlighted code, live progress.

Plots are PNGs drawn by :mod:`agent.report.plots` (the same figures the run directory holds).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from markdown_it import MarkdownIt
from markupsafe import Markup
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import DiffLexer, PythonLexer

from rewardsmith.agent.context import baseline_targets
from rewardsmith.agent.records.results import CandidateResult, RoundFeedback, RunSummary
from rewardsmith.agent.records.review import HumanFeedback, ReviewRequest
from rewardsmith.agent.report.summary import run_cost
from rewardsmith.agent.report.text import (
    BASELINE_LABELS,
    BASELINE_NAMES,
    cost_rows,
    fmt,
    hns_line,
    plain_finding,
    score_table,
    verdict_lines,
)
from rewardsmith.agent.review.gate import load_result
from rewardsmith.agent.rundir.store import RunStore, TargetFiles
from rewardsmith.core.errors import RewardSmithError
from rewardsmith.envs.evaluation import EvaluationResult

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
    """The selected reward's selection fitness (the in-loop score it was picked by)."""
    heldout: str
    """Its held-out fitness: over the final comparison's fresh training seeds when the run made one, else of its one
    training over the held-out episodes ("-" before any)."""
    verdicts: str
    """The final comparison's verdict against each baseline, e.g. ``better than the env's own reward; tied with …``."""


@dataclass(frozen=True, kw_only=True)
class RoundRow:
    round: int
    candidates: int
    trained: int
    best_id: str | None
    best_fitness: float | None
    best_heldout: str
    """The selected candidate's held-out fitness, mean ± std over the held-out episodes ("-" before any)."""
    source: str
    waiting: bool


@dataclass(frozen=True, kw_only=True)
class ScoreRow:
    """A reward in a round's table: a candidate or a baseline, by selection and held-out fitness."""

    label: str
    cid: str | None
    """The candidate's id (its page's link); None for a baseline."""
    status: str
    selection: str
    heldout: str
    findings: str


@dataclass(frozen=True, kw_only=True)
class Card:
    result: CandidateResult
    video: str | None
    """URL of the video, if one was recorded."""
    video_note: str
    shares: list[tuple[str, float, str]]
    """(component, share of the return, bar colour)."""
    code_html: Markup
    subtasks: tuple[SubtaskRow, ...] = ()
    """The task's subtasks with the critic's verdicts, shown beside the video."""
    critic_note: str = ""
    """What the critic did with this candidate (its model, frames, tokens) or why it gave no verdicts."""


@dataclass(frozen=True, kw_only=True)
class SubtaskRow:
    """One subtask beside the video: its check, and the critic's verdict (kept, or dropped with the state's word)."""

    id: int
    text: str
    check: str
    verdict: str
    """``done`` / ``partly`` / ``not``; "" when the critic gave none."""
    reason: str
    frame: str | None
    """URL of the frame the verdict points at."""
    dropped: str
    """Why the gate dropped the verdict (what the recorded state shows); "" when it was kept."""


def subtask_rows(store: RunStore, run: str, r: CandidateResult) -> tuple[tuple[SubtaskRow, ...], str]:
    """The candidate's subtasks with the critic's verdicts, and a line on the critic (none without ``--critic``)."""
    report = store.load_critic(r.candidate)
    subtasks = report.subtasks if report is not None and report.subtasks else (r.critique.subtasks if r.critique else ())
    if report is None:
        return tuple(SubtaskRow(id=s.id, text=s.text, check=s.check.describe() if s.check else "", verdict="",
                                reason="", frame=None, dropped="") for s in subtasks), ""
    base = f"/runs/{run}/candidates/{r.candidate.id}/critic/"
    kept = {v.subtask: (v, "") for v in report.kept}
    gone = {c.verdict.subtask: (c.verdict, c.state) for c in report.dropped}
    rows = []
    for s in subtasks:
        v, why = kept.get(s.id) or gone.get(s.id) or (None, "")
        rows.append(SubtaskRow(id=s.id, text=s.text, check=s.check.describe() if s.check else "",
                               verdict=v.verdict if v else "", reason=v.reason if v else "",
                               frame=f"{base}{v.frame}.jpg" if v is not None and v.frame is not None else None,
                               dropped=why))
    usage = report.usage
    note = (f"{report.model} watched {len(report.frames)} frames ({report.image_bytes / 1024:.0f} KiB) of the episode "
            f"with seed {report.seed}: {usage.tokens_in:,} tokens in + {usage.tokens_out:,} out; "
            f"{len(report.dropped)} verdict(s) dropped as contradicted by the recorded state"
            if report.status == "ok" else f"{report.model} gave no verdicts: {report.error}")
    return tuple(rows), note


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
                           best_fitness=summary.best_selection_fitness if summary else None,
                           heldout=heldout_text(summary), verdicts=verdict_words(summary)))
    return rows


def heldout_text(summary: RunSummary | None) -> str:
    """The selected reward's held-out fitness as the summary gives it: over fresh training seeds when it can."""
    if summary is None:
        return "-"
    f = summary.final
    if f is not None and f.designed.mean is not None:
        return f"{fmt(f.designed.mean, f.designed.std)} ({len(f.seeds)} seeds)"
    return fmt(summary.best_heldout_fitness, summary.best_heldout_std)


def verdict_words(summary: RunSummary | None) -> str:
    """``better than the env's own reward; tied with the sparse fitness reward`` from the final comparison."""
    if summary is None or summary.final is None:
        return "-"
    words = {"better": "better than", "tied": "tied with", "worse": "worse than", "unknown": "no verdict against"}
    return "; ".join(f"{words[v.verdict]} {BASELINE_NAMES[v.baseline]}" for v in summary.final.verdicts) or "-"


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
        best = next((r for r in results if feedback is not None and r.candidate.id == feedback.best_id), None)
        out.append(RoundRow(round=n, candidates=len(results), trained=sum(r.fitness is not None for r in results),
                            best_id=feedback.best_id if feedback else None, best_fitness=feedback.best_fitness if feedback else None,
                            best_heldout=_heldout(best.evaluation if best else None),
                            source=feedback.source if feedback else "-", waiting=store.paused_round() == n))
    return out


def round_table(store: RunStore, n: int) -> list[ScoreRow]:
    """Round ``n``'s candidates, then the run's baselines (trained in round 1, the yardstick of every round)."""
    rows = [ScoreRow(label=r.candidate.id, cid=r.candidate.id, status=r.status, selection=fmt(r.fitness),
                     heldout=_heldout(r.evaluation),
                     findings="; ".join(plain_finding(f) for f in r.critique.flags) if r.critique else "")
            for r in store.round_results(n)]
    return rows + baseline_rows(store)


def baseline_rows(store: RunStore) -> list[ScoreRow]:
    """The baselines' selection and held-out fitness, as far as they were trained."""
    rows: list[ScoreRow] = []
    if not store.load_record().config.baselines:
        return rows
    for kind in ("human", "sparse"):
        outcome = store.outcome(store.baseline_files(kind))
        evaluation = outcome.evaluation
        status = "ok" if evaluation else outcome.training.status if outcome.training else "not trained yet"
        rows.append(ScoreRow(label=BASELINE_LABELS[kind], cid=None, status=status,
                             selection=fmt(evaluation.selection.mean if evaluation else None),
                             heldout=_heldout(evaluation), findings=""))
    return rows


def _heldout(evaluation: EvaluationResult | None) -> str:
    return fmt(evaluation.heldout.mean, evaluation.heldout.std) if evaluation is not None else "-"


@dataclass(frozen=True, kw_only=True)
class Result:
    """A finished run's result, exactly as the terminal's summary says it (:mod:`agent.report.text`)."""

    header: tuple[str, ...]
    rows: list[tuple[str, ...]]
    verdicts: list[str]
    hns: str


def result(summary: RunSummary | None) -> Result | None:
    if summary is None:
        return None
    header, rows = score_table(summary)
    return Result(header=header, rows=rows, verdicts=verdict_lines(summary), hns=hns_line(summary))


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
    try:
        subtasks, critic_note = subtask_rows(store, run, r)
    except RewardSmithError as err:  # an unreadable critic.json costs this panel only
        subtasks, critic_note = (), f"critic.json unreadable: {err}"
    return Card(result=r, video=video, video_note=note, shares=coloured, code_html=code_html(r.candidate.code or ""),
                subtasks=subtasks, critic_note=critic_note)


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


def cost(store: RunStore, summary: RunSummary | None) -> list[tuple[str, str]]:
    """What the run has spent: the summary's cost when it has one, else the same count over what is on disk so far
    (:func:`agent.report.summary.run_cost`), in the terminal's words (:func:`agent.report.text.cost_rows`)."""
    if summary is not None and summary.cost is not None:
        return cost_rows(summary.cost)
    history = [r for n in store.rounds() for r in store.round_results(n)]
    baselines = list(baseline_targets(store)) if store.load_record().config.baselines else []
    # this process's children are not the run's jobs: the jobs' own CPU time (costs.json) is what counts
    return cost_rows(replace(run_cost(store, history, baselines, None), cpu_s=None))


@cache
def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "breaks": True})
    # Candidate-made text (component names, errors) reaches the critique: it may format, never link or load.
    md.disable(["image", "link", "autolink"])
    return md


def markdown_html(text: str) -> Markup:
    """A critique's Markdown as HTML: raw HTML in it is shown as text, links and images as their source."""
    return Markup(_markdown().render(text))

"""The live progress display: round, each candidate's state and fitness, and the final summary.

On a terminal it is a rich ``Live`` table; otherwise (CI, pipes) every state change is one line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Console
from rich.live import Live
from rich.table import Table

from agent.executor import ExecutorEvent
from agent.records import CandidateResult, RunSummary, Usage
from core.text import printable
from envs.evaluation import EvaluationResult


@dataclass
class _Row:
    state: str = "queued"
    fraction: float | None = None
    fitness: float | None = None
    note: str = ""


@dataclass
class ProgressView:
    console: Console
    live: bool = True
    rows: dict[str, _Row] = field(default_factory=dict)
    title: str = ""
    usage: Usage = field(default_factory=Usage)
    """The run's LLM usage so far (shown under the table; nothing while no call was made)."""
    _live: Live | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def __post_init__(self) -> None:
        self.live = self.live and self.console.is_terminal

    def header(self, lines: list[str]) -> None:
        for line in lines:
            self.console.print(line, highlight=False)

    def round_started(self, rnd: int, rounds: int) -> None:
        self.stop()
        self.rows = {}
        self.title = f"round {rnd}/{rounds}"
        if self.live:
            self._live = Live(self._table(), console=self.console, refresh_per_second=4, transient=False)
            self._live.start()
        else:
            self.console.print(f"── {self.title} ──", highlight=False)

    def stop(self) -> None:
        if self._live is not None:
            self._live.update(self._table())
            self._live.stop()
            self._live = None

    # -- updates ---------------------------------------------------------------------------------
    def update(self, key: str, state: str, *, fraction: float | None = None, fitness: float | None = None,
               note: str = "") -> None:
        row = self.rows.setdefault(key, _Row())
        changed = state != row.state or note != row.note or fitness != row.fitness
        note = printable(note)  # notes quote candidate-made text (errors, prints): never raw to the terminal
        row.state, row.fraction, row.note = state, fraction, note
        if fitness is not None:
            row.fitness = fitness
        if self._live is not None:
            self._live.update(self._table())
        elif changed and state != "progress":
            fit = f" fitness {row.fitness:.4g}" if row.fitness is not None else ""
            self.console.print(f"  {key}: {state}{fit}{' — ' + note if note else ''}", highlight=False)

    def result(self, r: CandidateResult) -> None:
        """Show a candidate's final state: fitness and findings, or why it failed."""
        if r.status == "ok":
            note = ", ".join(map(str, r.critique.flags)) if r.critique else ""
        elif r.status == "rejected":
            note = r.validation.message.splitlines()[0] if r.validation.message else r.validation.reason
        else:
            note = (r.training.error or "") if r.training else ""
        self.update(r.candidate.id, "done" if r.status == "ok" else r.status, fitness=r.fitness, note=note)

    def baseline(self, key: str, evaluation: EvaluationResult | None) -> None:
        """Show how a baseline (``human``, ``sparse``) ended."""
        self.update(key, "done" if evaluation else "failed", fitness=evaluation.selection.mean if evaluation else None)

    def llm_usage(self, usage: Usage) -> None:
        """Show the run's LLM totals (tokens, cost) when they changed."""
        if usage == self.usage:
            return
        self.usage = usage
        if self._live is not None:
            self._live.update(self._table())
        elif usage.calls:
            self.console.print(f"  LLM so far: {usage_text(usage)}", highlight=False)

    def executor_event(self, event: ExecutorEvent) -> None:
        if event.state == "started":
            self.update(event.key, "training" if event.kind == "train" else "evaluating", fraction=0.0)
        elif event.state == "progress" and self._live is not None:
            self.update(event.key, "training", fraction=event.fraction)
        elif event.state == "ended" and event.outcome is not None and event.outcome.status not in ("ok",):
            detail = event.outcome.detail or event.outcome.status
            self.update(event.key, event.outcome.status.replace("_", " "), note=detail)

    def _table(self) -> Table:
        caption = f"LLM so far: {usage_text(self.usage)}" if self.usage.calls else None
        table = Table(title=self.title, title_justify="left", expand=False, caption=caption, caption_justify="left")
        for col in ("candidate", "state", "fitness", "note"):
            table.add_column(col)
        for key, row in self.rows.items():
            state = row.state
            if state == "training" and row.fraction is not None:
                state = f"training {100 * row.fraction:.0f}%"
            fit = f"{row.fitness:.4g}" if row.fitness is not None else ""
            table.add_row(key, state, fit, row.note[:70])
        return table

    # -- end -------------------------------------------------------------------------------------
    def summary(self, s: RunSummary, run_dir: str) -> None:
        self.stop()
        table = Table(title="RewardSmith summary", title_justify="left")
        table.add_column("reward")
        table.add_column("selection fitness", justify="right")
        table.add_column("held-out fitness", justify="right")
        best = f"designed ({s.best_id})" if s.best_id else "designed (none)"
        table.add_row(best, _fmt(s.best_selection_fitness), _fmt(s.best_heldout_fitness, s.best_heldout_std))
        for b in s.baselines:
            label = {"human": "env's own reward (human)", "sparse": "sparse fitness reward"}[b.kind]
            table.add_row(label, _fmt(b.selection_fitness), _fmt(b.heldout_fitness, b.heldout_std))
        self.console.print(table)
        hns_text = f"{s.hns:.3f}" if s.hns is not None else "n/a"
        self.console.print(f"human-normalized score: {hns_text} ({s.hns_note})", highlight=False)
        for r in s.rounds:
            self.console.print(f"round {r.round}: {r.trained}/{r.candidates} trained, best {r.best_id or '-'} "
                               f"({_fmt(r.best_fitness)})", highlight=False)
        if s.best_reward_file:
            self.console.print(f"best reward: {s.best_reward_file}", highlight=False)
        if s.usage.calls:
            self.console.print(f"LLM usage: {usage_text(s.usage)}", highlight=False)
        if s.stopped:
            self.console.print(f"stopped early: {printable(s.stopped)}", highlight=False, markup=False)
        self.console.print(f"run directory: {run_dir}  (designer: {s.designer}; {s.sandbox})", highlight=False)


def usage_text(u: Usage) -> str:
    """e.g. ``12 calls, 8,120 tokens in + 3,051 out, $0.0123`` (cost left out when no price is known)."""
    cost = f", ${u.cost:.4f}" if u.cost is not None else ", cost unknown (no price for this model)"
    return f"{u.calls} call{'s' if u.calls != 1 else ''}, {u.tokens_in:,} tokens in + {u.tokens_out:,} out{cost}"


def _fmt(value: float | None, std: float | None = None) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" + (f" ± {std:.2g}" if std is not None else "")

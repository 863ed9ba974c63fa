"""The live progress display: round, each candidate's state and fitness, and the final summary (its words in
:mod:`agent.report.text`, shared with the web app).

On a terminal it is a rich ``Live`` table with a progress bar per training (steps/s, the time left
for the training, the round and the run). Otherwise (CI, pipes) every state change is one line, and
a status line is printed every ``heartbeat_s`` seconds while a round runs, so piped output never
goes quiet for long. Fractions are capped at 100 % (PPO may finish its last rollout past the budget).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from rewardsmith.agent.records.results import CandidateResult, RunSummary, Usage
from rewardsmith.agent.report.text import (
    cost_text,
    duration,
    fmt,
    hns_line,
    plain_finding,
    score_table,
    skip_reason,
    usage_text,
    verdict_lines,
)
from rewardsmith.agent.train.executors.base import ExecutorEvent
from rewardsmith.agent.train.plan import JobSeconds, RunPlan, StageWork, makespan, waves
from rewardsmith.core.text import printable
from rewardsmith.envs.evaluation import EvaluationResult

HEARTBEAT_S = 30.0
"""Without a terminal, the longest the display stays silent while a round runs."""


@dataclass
class _Row:
    state: str = "queued"
    fraction: float | None = None
    fitness: float | None = None
    note: str = ""
    kind: str | None = None
    """The kind of the job step running for it now (train, evaluate, video, jax_round); None when none runs."""
    step_started: float | None = None
    """When that step started (monotonic)."""
    validating_since: float | None = None
    validated: bool = False
    """A candidate whose validation ended (accepted or not)."""
    piped: bool = False
    """A job step of its pipeline started (so it is running or over, never to start again in this stage)."""
    batch: bool = False
    """The row of one program that trains several targets together (the jax backend's round), not a target."""

    def rate(self, now: float) -> float | None:
        """Fraction of its training done per second, once something was done."""
        if self.kind not in TRAIN_KINDS or self.step_started is None or not self.fraction or now <= self.step_started:
            return None
        return self.fraction / (now - self.step_started)


@dataclass(frozen=True)
class Eta:
    """Estimated seconds left; None where nothing was measured yet."""

    training_rate: float | None
    """Environment steps per second of one training (mean of those running), when the budget is known."""
    stage_s: float | None
    """The stage under way: a round, or the final comparison."""
    run_s: float | None
    """The stage under way and every stage after it."""


TRAIN_KINDS = ("train", "jax_round")
BATCH_KINDS = ("jax_round",)
"""Job kinds that train several targets in one program (their row is the program's, not a target's)."""
_STARTED = {"train": "training", "jax_round": "training (one program)", "evaluate": "evaluating",
            "video": "recording video"}
_ENDED = {"jax_round": "done", "evaluate": "evaluated", "video": "video recorded"}
NOT_TRAINED = ("rejected", "skipped")
"""Row states of candidates that no pipeline will train."""
RECENT = 6
"""The live ETA takes each kind of job's time from the last this many that ended (the load changes)."""


@dataclass
class ProgressView:
    console: Console
    live: bool = True
    rows: dict[str, _Row] = field(default_factory=dict)
    title: str = ""
    usage: Usage = field(default_factory=Usage)
    """The run's LLM usage so far (shown under the table; nothing while no call was made)."""
    plan: RunPlan | None = None
    """What the run does (``agent.train.plan``): with it, steps/s and the stage's and the run's ETA are shown."""
    heartbeat_s: float = HEARTBEAT_S
    round: int = 0
    stage: StageWork | None = None
    """The stage under way (a round, or the final comparison) when the run has a plan."""
    _after: list[StageWork] = field(default_factory=list)
    _batched: bool = False
    """A stage trained its targets in one program (the jax backend), so every stage does."""
    _live: Live | None = None
    _seconds: dict[str, list[float]] = field(default_factory=dict)
    """Wall seconds of the jobs of this run that ended ``ok``, by kind (and ``validate``), for the ETA."""
    _last_print: float = 0.0
    _beat: threading.Event | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def __post_init__(self) -> None:
        self.live = self.live and self.console.is_terminal

    def header(self, lines: list[str]) -> None:
        for line in lines:  # plain text: "[train]" in a line is not rich markup
            self.console.print(line, highlight=False, markup=False)

    def round_started(self, rnd: int, rounds: int) -> None:
        self.round = rnd
        if self.plan is not None:
            self.stage, self._after = self.plan.round_stage(rnd), self.plan.stages_after(rnd)
        self.phase_started(f"round {rnd}/{rounds}")

    def final_started(self, title: str) -> None:
        """The final comparison's table: its trainings are the run's last stage."""
        if self.plan is not None:
            self.stage, self._after = self.plan.final_stage(), []
        self.phase_started(title)

    def phase_started(self, title: str) -> None:
        """A titled table of its own (a round, or the final comparison)."""
        self.stop()
        self.rows = {}
        self.title = title
        if self.live:
            self._live = Live(self._render(), console=self.console, refresh_per_second=4, transient=False)
            self._live.start()
        else:
            self._print(f"── {self.title} ──")
            self._beat = threading.Event()
            threading.Thread(target=self._heartbeat, args=(self._beat,), daemon=True, name="progress-heartbeat").start()

    def stop(self) -> None:
        if self._beat is not None:
            self._beat.set()
            self._beat = None
        if self._live is not None:
            self._live.update(self._render())
            self._live.stop()
            self._live = None

    def _print(self, line: str) -> None:
        self._last_print = time.monotonic()
        self.console.print(line, highlight=False, markup=False)

    def _heartbeat(self, stop: threading.Event) -> None:
        while not stop.wait(min(self.heartbeat_s, 5.0)):
            if time.monotonic() - self._last_print >= self.heartbeat_s:
                self._print(self.status_line())

    # -- updates ---------------------------------------------------------------------------------
    def update(self, key: str, state: str, *, fraction: float | None = None, fitness: float | None = None,
               note: str = "") -> None:
        row = self.rows.setdefault(key, _Row())
        changed = state != row.state or note != row.note or fitness != row.fitness
        note = printable(note)  # notes quote candidate-made text (errors, prints): never raw to the terminal
        now = time.monotonic()
        if state == "validating" and row.validating_since is None:
            row.validating_since = now
        elif row.validating_since is not None and not row.validated and state in ("queued", "rejected"):
            row.validated = True
            self._seconds.setdefault("validate", []).append(now - row.validating_since)
        row.state, row.note = state, note
        row.fraction = None if fraction is None else min(1.0, max(0.0, fraction))
        if fitness is not None:
            row.fitness = fitness
        if self._live is not None:
            self._live.update(self._render())
        elif changed and state != "progress":
            fit = f" fitness {row.fitness:.4g}" if row.fitness is not None else ""
            self._print(f"  {key}: {state}{fit}{' — ' + note if note else ''}")

    def result(self, r: CandidateResult) -> None:
        """Show a candidate's final state: fitness and findings (in words; the tags stay in the critique), or why
        it failed or was not trained."""
        if r.status == "ok":
            note = "; ".join(map(plain_finding, r.critique.flags)) if r.critique else ""
        elif r.status == "skipped" and r.screen is not None:
            note = skip_reason(r.screen)
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
            self._live.update(self._render())
        elif usage.calls:
            self._print(f"  LLM so far: {usage_text(usage)}")

    def executor_event(self, event: ExecutorEvent) -> None:
        """A job step started, progressed or ended: the row says so at once (an evaluation that ended is not
        left "evaluating" until the round's last job ends), and an ``ok`` step's time feeds the ETA."""
        row = self.rows.setdefault(event.key, _Row())
        label = _STARTED.get(event.kind, event.kind)
        if event.state == "started":
            row.kind, row.step_started, row.piped = event.kind, time.monotonic(), True
            row.batch = row.batch or event.kind in BATCH_KINDS
            if row.batch:
                self._batched = True  # the run's backend trains a call in one program: so will the stages after it
            self.update(event.key, label, fraction=0.0 if event.kind in TRAIN_KINDS else None)
        elif event.state == "progress":  # piped output shows it in the heartbeat line, not per update
            self.update(event.key, label, fraction=event.fraction)
        elif event.state == "ended" and event.outcome is not None:
            row.kind = None
            outcome = event.outcome
            if outcome.status == "ok":
                self._seconds.setdefault(event.kind, []).append(outcome.wall_s)
                if event.kind != "train":  # a training's evaluation starts at once: its row says so next
                    self.update(event.key, _ENDED.get(event.kind, "done"), note=outcome.detail)  # e.g. jax's compile time
            else:
                self.update(event.key, outcome.status.replace("_", " "), note=outcome.detail or outcome.status)

    # -- estimates -------------------------------------------------------------------------------
    def times(self, now: float | None = None) -> JobSeconds:
        """How long each kind of job takes, from this run's jobs that ended (the last :data:`RECENT` of a kind);
        a training never finished yet is extrapolated from the running ones' rates, any other job is at least
        as long as a running one has taken so far."""
        now = time.monotonic() if now is None else now

        def of(kind: str) -> float | None:
            ended = self._seconds.get(kind, [])[-RECENT:]
            if ended:
                return sum(ended) / len(ended)
            running = [row for row in self.rows.values() if row.kind == kind and row.step_started is not None]
            rates = [r for r in (row.rate(now) for row in running) if r]
            if rates:
                return sum(1.0 / r for r in rates) / len(rates)
            if running and kind not in TRAIN_KINDS:
                return max(now - (row.step_started or now) for row in running)
            return None

        return JobSeconds(validate=of("validate"), train=of("train"), evaluate=of("evaluate"), video=of("video"),
                          batch=of("jax_round"))

    def eta(self, now: float | None = None) -> Eta:
        """Steps/s of a training, and the time left for the stage under way and for the run: every stage's
        validations, trainings, evaluations and videos, at the times this run's jobs took (:meth:`times`)."""
        now = time.monotonic() if now is None else now
        rates = [r for r in (row.rate(now) for row in self.rows.values() if row.kind == "train") if r]
        steps_rate = (sum(rates) / len(rates) * self.plan.budget.steps) if rates and self.plan else None
        if self.plan is None or self.stage is None:
            return Eta(steps_rate, None, None)
        times = self.times(now)
        stage_s = self._stage_left(self.stage, times, now)
        if stage_s is None:
            return Eta(steps_rate, None, None)
        later = [st.seconds(times, self.plan.workers, batched=self._batched) for st in self._after]
        run_s = None if any(s is None for s in later) else stage_s + sum(s for s in later if s is not None)
        return Eta(steps_rate, stage_s, run_s)

    def _stage_left(self, stage: StageWork, times: JobSeconds, now: float) -> float | None:
        """Seconds left in ``stage``: validations not done, the round's program (jax), each running pipeline's rest
        and the pipelines not started, on the plan's workers as the executor schedules them."""
        assert self.plan is not None
        workers = self.plan.workers
        batched = self._batched
        train = times.batch if batched else times.train
        if train is None:
            return None
        targets = [row for row in self.rows.values() if not row.batch]
        video = (times.video or 0.0) * (stage.videos / stage.targets if stage.targets else 0.0)
        tail = (times.evaluate or 0.0) + video  # after a training: its evaluation, and maybe a video

        def left(row: _Row) -> float:
            elapsed = now - (row.step_started or now)
            if row.kind in TRAIN_KINDS:
                rate = row.rate(now)
                rest = (1.0 - (row.fraction or 0.0)) / rate if rate else max(0.0, train - elapsed)
                return rest + (0.0 if row.batch else tail)
            if row.kind == "evaluate":
                return max(0.0, (times.evaluate or 0.0) - elapsed) + video
            return max(0.0, (times.video or 0.0) - elapsed)

        to_validate = max(0, stage.validations - sum(row.validated for row in targets))
        seconds = waves(to_validate, workers) * (times.validate or 0.0)
        if batched:
            programs = [row for row in self.rows.values() if row.batch]
            running = [left(row) for row in programs if row.kind is not None]
            seconds += max(running) if running else (0.0 if programs else train)
        started = sum(row.piped for row in targets)
        out = sum(not row.piped and row.state in NOT_TRAINED for row in targets)
        to_start = max(0, stage.targets - started - out)
        pipeline = (0.0 if batched else train) + tail
        return seconds + makespan([left(row) for row in targets if row.kind is not None], [pipeline] * to_start, workers)

    def status_line(self) -> str:
        """One line for piped output: what trains, how far, how fast, and the time left."""
        training = [f"{k} {100 * (r.fraction or 0):.0f}%" for k, r in self.rows.items() if r.kind in TRAIN_KINDS]
        other = [k for k, r in self.rows.items() if r.kind in ("evaluate", "video")]
        parts = [f"[{time.strftime('%H:%M:%S')}] {self.title}: "
                 + (f"training {', '.join(training)}" if training else "no training running")]
        if other:
            parts.append(f"evaluating {', '.join(other)}")
        e = self.eta()
        if e.training_rate is not None:
            parts.append(f"{e.training_rate:,.0f} steps/s per training")
        if e.stage_s is not None:
            parts.append(self._eta_text(e))
        return "; ".join(parts)

    def _eta_text(self, e: Eta) -> str:
        """e.g. ``round 1 ~3 min left, the run ~12 min``."""
        assert e.stage_s is not None
        name = self.stage.title if self.stage is not None else "this stage"
        return f"{name} ~{duration(e.stage_s)} left" + (f", the run ~{duration(e.run_s)}" if e.run_s is not None else "")

    # -- rendering ---------------------------------------------------------------------------------
    def _render(self) -> RenderableType:
        e = self.eta()
        lines = []
        if e.stage_s is not None:
            lines.append(self._eta_text(e))
        if self.usage.calls:
            lines.append(f"LLM so far: {usage_text(self.usage)}")
        return Group(self._table(), *(Text(line) for line in lines)) if lines else self._table()

    def _table(self) -> Table:
        table = Table(title=self.title, title_justify="left", expand=False)
        for col in ("candidate", "state", "progress", "fitness", "note"):
            table.add_column(col)
        now = time.monotonic()
        for key, row in self.rows.items():
            fit = f"{row.fitness:.4g}" if row.fitness is not None else ""
            table.add_row(key, row.state, self._bar(row, now), fit, Text(row.note[:70]))
        return table

    def _bar(self, row: _Row, now: float) -> RenderableType:
        if row.kind not in TRAIN_KINDS or row.fraction is None:
            return ""
        rate = row.rate(now)
        speed = f" {rate * self.plan.budget.steps:,.0f} steps/s" if rate and self.plan else ""
        left = f" {duration((1 - row.fraction) / rate)} left" if rate else ""
        return Group(ProgressBar(total=1.0, completed=row.fraction, width=24),
                     Text(f"{100 * row.fraction:.0f}%{speed}{left}"))

    # -- end -------------------------------------------------------------------------------------
    def summary(self, s: RunSummary, run_dir: str) -> None:
        self.stop()
        header, rows = score_table(s)
        table = Table(title="RewardSmith summary", title_justify="left")
        for i, col in enumerate(header):
            table.add_column(col, justify="left" if i == 0 else "right")
        for row in rows:
            table.add_row(*row)
        self.console.print(table)
        for line in verdict_lines(s):
            self.console.print(line, highlight=False, markup=False)
        self.console.print(hns_line(s), highlight=False, markup=False)
        for r in s.rounds:
            spent = f"; {r.env_steps:,} env-steps, {r.cpu_s / 60:.1f} CPU-min of jobs" if r.cpu_s else ""
            self.console.print(f"round {r.round}: {r.trained}/{r.candidates} trained, best {r.best_id or '-'} "
                               f"({fmt(r.best_fitness)}){spent}", highlight=False, markup=False)
        if s.best_reward_file:
            self.console.print(f"best reward: {s.best_reward_file}", highlight=False)
        if s.cost is not None:
            self.console.print(f"cost: {cost_text(s)}", highlight=False, markup=False)
        elif s.usage.calls:
            self.console.print(f"LLM usage: {usage_text(s.usage)}", highlight=False)
        if s.critic is not None:
            c = s.critic
            self.console.print(f"critic {c.model}: {c.judged} candidates judged, {c.failed} without verdicts; "
                               f"{c.frames} frames sent; {c.kept} verdicts kept, {c.dropped} dropped as contradicted "
                               f"by the recorded state; {usage_text(c.usage)}", highlight=False, markup=False)
        if s.stopped:
            self.console.print(f"stopped early: {printable(s.stopped)}", highlight=False, markup=False)
        self.console.print(f"run directory: {run_dir}  (designer: {s.designer}; {s.sandbox})", highlight=False)

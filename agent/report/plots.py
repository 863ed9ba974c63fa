"""PNG plots of a run with matplotlib: training curves per candidate, a round's candidates overlaid, fitness per round.

The orchestrator writes them into the run directory through the store (:func:`write_round_plots`);
the web app serves the same figures, drawn by the same functions from the same records. Each plot
gives the task fitness its own axis (it is on another scale than reward returns) and the
episode length a third; the baselines (the env's own reward, the sparse fitness reward) are drawn
as dashed reference lines wherever they were trained.

Figures are made with :class:`matplotlib.figure.Figure` and the Agg canvas, never ``pyplot``, so
the web app's worker threads can draw at the same time.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rewardsmith.agent.records.results import CandidateResult
from rewardsmith.agent.rundir.store import RunStore
from rewardsmith.core.atomic import write_bytes
from rewardsmith.envs.backends.records import TrainingResult

if TYPE_CHECKING:
    from matplotlib.axes import Axes

BASELINE_STYLE = {"human": ("env's own reward (human)", "#555555", "--"),
                  "sparse": ("sparse fitness reward", "#aaaaaa", ":")}
DPI = 100
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


@dataclass(frozen=True, kw_only=True)
class Curve:
    """One trained target's statistics under a label (a candidate id, ``human``, ``sparse``)."""

    label: str
    training: TrainingResult


def baselines_of(store: RunStore) -> list[tuple[str, TrainingResult]]:
    """The run's baselines that have training statistics, as ``(kind, result)``."""
    out = []
    for kind in BASELINE_STYLE:
        training = store.outcome(store.baseline_files(kind)).training
        if training is not None and training.checkpoints:
            out.append((kind, training))
    return out


# -- figures ---------------------------------------------------------------------------------------
def training_png(curve: Curve, baselines: Sequence[tuple[str, TrainingResult]] = ()) -> bytes:
    """One candidate: each reward component's return per episode, the task fitness, the episode length."""
    fig, (ax_r, ax_f, ax_l) = _figure(3, f"{curve.label}: training")
    t = curve.training
    for name in t.components:
        pts = [(cp.timesteps, cp.component_returns[name]) for cp in t.checkpoints if name in cp.component_returns]
        _line(ax_r, pts, name)
    _line(ax_r, [(cp.timesteps, cp.reward_return) for cp in t.checkpoints if cp.reward_return is not None],
          "total", colour="black", width=2.0)
    ax_r.set_ylabel("return per episode")
    _line(ax_f, [(cp.timesteps, cp.fitness) for cp in t.checkpoints if cp.fitness is not None], curve.label,
          colour="#d62728", width=2.0)
    _line(ax_l, [(cp.timesteps, cp.episode_length) for cp in t.checkpoints if cp.episode_length is not None],
          curve.label, colour="#1f77b4", width=2.0)
    _baselines(ax_f, ax_l, baselines)
    return _finish(fig, (ax_r, ax_f, ax_l))


def compare_png(curves: Sequence[Curve], baselines: Sequence[tuple[str, TrainingResult]] = (),
                title: str = "candidates compared") -> bytes:
    """Several candidates overlaid: task fitness, episode length, and the return of each one's own reward."""
    fig, (ax_f, ax_l, ax_r) = _figure(3, title)
    for i, c in enumerate(curves):
        # a marker of its own per candidate, so candidates with equal values stay visible on top of each other
        colour, marker, size = _colour(i), MARKERS[i % len(MARKERS)], 9.0 - 1.5 * (i % 3)
        cps = c.training.checkpoints
        for ax, pts in ((ax_f, [(cp.timesteps, cp.fitness) for cp in cps]),
                        (ax_l, [(cp.timesteps, cp.episode_length) for cp in cps]),
                        (ax_r, [(cp.timesteps, cp.reward_return) for cp in cps])):
            _line(ax, pts, c.label, colour=colour, marker=marker, size=size)
    _baselines(ax_f, ax_l, baselines)
    ax_r.set_ylabel("own reward's return\n(not comparable\nacross candidates)")
    return _finish(fig, (ax_f, ax_l, ax_r))


@dataclass(frozen=True, kw_only=True)
class RoundPoints:
    round: int
    fitness: tuple[tuple[str, float], ...]
    """(candidate id, selection fitness) of every trained candidate of the round."""
    best: float | None


def fitness_rounds_png(points: Sequence[RoundPoints], baselines: Sequence[tuple[str, float]] = ()) -> bytes:
    """Selection fitness of every candidate per round, the selected best, and the baselines' fitness."""
    fig, (ax,) = _figure(1, "fitness per round")
    xs = [(p.round, v) for p in points for _, v in p.fitness]
    if xs:
        ax.scatter([x for x, _ in xs], [y for _, y in xs], s=18, color="#1f77b4", alpha=0.7, label="every candidate")
    best = [(p.round, p.best) for p in points if p.best is not None]
    if best:
        ax.plot([x for x, _ in best], [y for _, y in best], "-o", color="#d62728", label="selected best")
    for kind, value in baselines:
        name, colour, style = BASELINE_STYLE[kind]
        ax.axhline(value, color=colour, linestyle=style, label=name)
    ax.set_xlabel("round")
    ax.set_ylabel("task fitness (selection episodes)")
    if points:
        ax.set_xticks([p.round for p in points])
    return _finish(fig, (ax,), x_label=None)


# -- the run directory -----------------------------------------------------------------------------
def round_points(store: RunStore) -> list[RoundPoints]:
    out = []
    for rnd in store.rounds():
        results = store.round_results(rnd)
        feedback = store.load_feedback(rnd)
        out.append(RoundPoints(round=rnd, fitness=tuple((r.candidate.id, r.fitness) for r in results
                                                        if r.fitness is not None),
                               best=feedback.best_fitness if feedback is not None else None))
    return out


def baseline_fitness(store: RunStore) -> list[tuple[str, float]]:
    """Each evaluated baseline's selection fitness (the same episodes candidates are selected on)."""
    out = []
    for kind in BASELINE_STYLE:
        evaluation = store.outcome(store.baseline_files(kind)).evaluation
        if evaluation is not None:
            out.append((kind, evaluation.selection.mean))
    return out


def run_fitness_png(store: RunStore) -> bytes:
    return fitness_rounds_png(round_points(store), baseline_fitness(store))


def round_compare_png(store: RunStore, results: Sequence[CandidateResult], title: str) -> bytes:
    curves = [Curve(label=r.candidate.id, training=r.training) for r in results
              if r.training is not None and r.training.checkpoints]
    return compare_png(curves, baselines_of(store), title)


def write_round_plots(store: RunStore, rnd: int) -> list[str]:
    """Write the round's plots (each candidate's ``training.png``, the round's ``curves.png``) and the run's
    ``fitness.png``; returns the paths written. The loop calls this after each round."""
    written = []
    baselines = baselines_of(store)
    results = store.round_results(rnd)
    for r in results:
        if r.training is not None and r.training.checkpoints:
            path = store.files_of(r.candidate).training_plot
            write_bytes(path, training_png(Curve(label=r.candidate.id, training=r.training), baselines))
            written.append(str(path))
    if results:
        write_bytes(store.round_plot(rnd), round_compare_png(store, results, f"round {rnd}: candidates compared"))
        written.append(str(store.round_plot(rnd)))
    write_bytes(store.fitness_plot, run_fitness_png(store))
    written.append(str(store.fitness_plot))
    return written


# -- drawing helpers -------------------------------------------------------------------------------
def _figure(rows: int, title: str) -> tuple[object, list[Axes]]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 2.3 * rows + 0.6), dpi=DPI)
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    fig.suptitle(title)
    return fig, list(axes)


def _colour(i: int) -> str:
    return ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")[i % 8]


def _line(ax: Axes, pts: Sequence[tuple[float, float | None]], label: str, colour: str | None = None,
          width: float = 1.5, style: str = "-", marker: str | None = None, size: float = 5.0) -> None:
    good = [(x, y) for x, y in pts if y is not None]
    if not good:
        return
    if marker is None and len(good) == 1:
        marker = "o"
    ax.plot([x for x, _ in good], [y for _, y in good], style, color=colour, linewidth=width, label=label,
            marker=marker if len(good) <= 40 else None, markersize=size, fillstyle="none" if marker else "full")


def _baselines(ax_f: Axes, ax_l: Axes, baselines: Sequence[tuple[str, TrainingResult]]) -> None:
    for kind, t in baselines:
        name, colour, style = BASELINE_STYLE[kind]
        _line(ax_f, [(cp.timesteps, cp.fitness) for cp in t.checkpoints], name, colour=colour, style=style)
        _line(ax_l, [(cp.timesteps, cp.episode_length) for cp in t.checkpoints], name, colour=colour, style=style)
    ax_f.set_ylabel("task fitness")
    ax_l.set_ylabel("episode length")


def _finish(fig: object, axes: Sequence[Axes], x_label: str | None = "environment steps") -> bytes:
    from matplotlib.figure import Figure

    assert isinstance(fig, Figure)
    for ax in axes:
        ax.grid(True, alpha=0.3)
        handles, _ = ax.get_legend_handles_labels()
        if handles:
            ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
        else:
            ax.text(0.5, 0.5, "no data yet", transform=ax.transAxes, ha="center", va="center", color="#888888")
    if x_label:
        axes[-1].set_xlabel(x_label)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()

"""Failure causes and behaviour detectors from the held-out evaluation episodes, in the task's own terms.

Input: :class:`~envs.outcomes.EpisodeOutcome` records (how each episode ended, a trace of every
state field, the actions) and the task's :class:`~core.state.StateSpec`. The fields' metadata
drives everything — units, ranges, targets, the forward direction — so nothing here names a task:

- how the episodes ended (terminated by the environment or cut at the time limit, at which step) and,
  for terminations that were not the goal, which fields were out of their range or far beyond their
  usual magnitude at that moment (``early_termination``);
- the task's targets missed (``goal_missed``);
- standing still, oscillating in place or going the wrong way when the task says which way to move
  (``motionless``, ``oscillating``, ``wrong_direction``: in most episodes; ``motion_missed``: in a few of them;
  the direction is the task's own, see :class:`agent.goal.task_goal.TaskGoal`), and bang-bang action chatter
  without progress (``action_chatter``);
- episodes run to the time limit on a term that pays per step alive (``length_farming``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rewardsmith.agent.goal.reading import opposite as opposite_word
from rewardsmith.agent.goal.task_goal import asked_word
from rewardsmith.agent.records.results import FailureReport, FieldAtEnd, Finding
from rewardsmith.core.state import StateField, StateSpec
from rewardsmith.envs.outcomes import EpisodeOutcome, FieldTrace

MAJORITY = 0.6
"""A behaviour is reported when it shows in at least this fraction of the held-out episodes."""
MISSED = 0.2
"""Episodes that did not move the way the task asks are reported from this fraction on (``motion_missed``)."""
BEYOND_USUAL = 3.0
"""At the end, a field this many times its usual magnitude counts as a cause."""
TARGET_GAP = 0.15
"""A ``hold`` target missed by more than this fraction of the field's range (or by this many units) is missed."""
STILL = 0.001
"""Moving less than this fraction of a forward position's range per step (or 0.05 units/s) is standing still."""
NET_SHARE = 0.15
"""Net progress below this fraction of the distance travelled is oscillating in place."""
IDLE_ACTION = 0.05
"""Actions below this fraction of their bound on average: the policy does (almost) nothing."""
CIRCLING = 3.0
"""A field with a ``hold`` target that travels more than this many times its range in an episode goes round and round."""
CHATTER_SWITCH = 0.3
CHATTER_MAGNITUDE = 0.5


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def _success(o: EpisodeOutcome, spec: StateSpec) -> bool:
    """The episode reached a ``reach_*`` target of the task."""
    for f in spec.fields:
        t = o.fields.get(f.name)
        if f.target is None or t is None:
            continue
        if (f.target_kind == "reach_at_least" and t.max >= f.target) or (f.target_kind == "reach_at_most" and t.min <= f.target):
            return True
    return False


def failure_report(outcomes: Sequence[EpisodeOutcome], spec: StateSpec) -> FailureReport | None:
    """How the episodes ended; the fields that explain failing terminations."""
    if not outcomes:
        return None
    ended = [o for o in outcomes if o.terminated]
    success = sum(_success(o, spec) for o in ended) > len(ended) / 2 if ended else False
    causes = () if success or not ended else _causes(ended, spec)
    fit = [o.fitness for o in outcomes]
    return FailureReport(episodes=len(outcomes), terminated=len(ended), truncated=sum(o.truncated for o in outcomes),
                         median_end_step=float(np.median([o.length for o in ended])) if ended else None,
                         success_end=success, causes=causes, worst_fitness=min(fit), best_fitness=max(fit))


def _causes(ended: Sequence[EpisodeOutcome], spec: StateSpec) -> tuple[FieldAtEnd, ...]:
    rows = []
    for f in spec.fields:
        traces = [o.fields[f.name] for o in ended if f.name in o.fields]
        hits, lasts, usual, out = 0, [], [], False
        for t in traces:
            outside = _outside(f, t.last, t.norm) or (f.kind == "indicator" and abs(t.last - t.usual_abs) >= 0.5)
            far = t.usual_abs > 1e-9 and abs(t.last) >= BEYOND_USUAL * t.usual_abs
            if outside or far:
                hits += 1
                lasts.append(t.last)
                usual.append(t.usual_abs)
                out = out or outside
        if hits:
            end, base = float(np.median(lasts)), float(np.median(usual))
            rows.append(FieldAtEnd(name=f.name, unit=f.unit, episodes=hits, end_median=end, usual_median=base,
                                   out_of_range=out, ratio=abs(end) / base if base > 1e-9 else None))
    rows.sort(key=lambda r: (r.episodes, r.out_of_range, r.ratio or 0.0), reverse=True)
    return tuple(rows[:2])


def _outside(f: StateField, value: float, norm: bool) -> bool:
    if norm or f.low is None or f.high is None or f.kind == "indicator":
        return False
    slack = 1e-6 * (f.high - f.low)
    return value < f.low - slack or value > f.high + slack


def describe_cause(c: FieldAtEnd, spec: StateSpec, total: int) -> str:
    f = next(x for x in spec.fields if x.name == c.name)
    unit = "" if c.unit == "1" else f" {c.unit}"
    if f.kind == "indicator":
        return f"`{c.name}` had dropped to {_fmt(c.end_median)} in {c.episodes} of {total}"
    if c.out_of_range and f.low is not None and f.high is not None:
        return (f"`{c.name}` was outside its range [{f.low:g}, {f.high:g}]{unit} in {c.episodes} of {total} "
                f"(median {_fmt(c.end_median)}{unit})")
    ratio = f"{c.ratio:.1f}×" if c.ratio is not None else "far beyond"
    name = f"`|{c.name}|`" if f.shape else f"`{c.name}`"
    return (f"{name} was {ratio} its usual magnitude in {c.episodes} of {total} (median {_fmt(abs(c.end_median))} vs "
            f"{_fmt(c.usual_median)}{unit})")


def failure_findings(report: FailureReport | None, outcomes: Sequence[EpisodeOutcome], spec: StateSpec) -> list[Finding]:
    out: list[Finding] = []
    if report is None:
        return out
    if report.terminated and not report.success_end and report.terminated >= MAJORITY * report.episodes:
        causes = "; ".join(describe_cause(c, spec, report.terminated) for c in report.causes)
        lead = report.causes[0].name if report.causes else None
        out.append(Finding("early_termination", lead,
                           f"{report.terminated} of {report.episodes} held-out episodes were ended by the environment "
                           f"(median step {report.median_end_step:.0f})" + (f"; at that moment {causes}" if causes else "")
                           + ".", float(report.terminated)))
    out += _targets(outcomes, spec)
    return out


def _targets(outcomes: Sequence[EpisodeOutcome], spec: StateSpec) -> list[Finding]:
    out = []
    n = len(outcomes)
    for f in spec.fields:
        traces = [o.fields[f.name] for o in outcomes if f.name in o.fields]
        if f.target is None or not traces:
            continue
        unit = "" if f.unit == "1" else f" {f.unit}"
        if f.target_kind in ("reach_at_least", "reach_at_most"):
            at_least = f.target_kind == "reach_at_least"
            best = [t.max if at_least else t.min for t in traces]
            reached = sum((b >= f.target) if at_least else (b <= f.target) for b in best)
            if reached < MAJORITY * n:
                op = "≥" if at_least else "≤"
                top = max(best) if at_least else min(best)
                out.append(Finding("goal_missed", f.name,
                                   f"`{f.name}` reached the goal ({op} {f.target:g}{unit}) in {reached} of {n} held-out "
                                   f"episodes; the best got to {_fmt(top)}{unit} (median {_fmt(float(np.median(best)))}).",
                                   float(reached)))
        else:
            gaps = [g for g in (gap(t, f.target) for t in traces) if g is not None]
            limit = TARGET_GAP * (f.high - f.low) if f.low is not None and f.high is not None else TARGET_GAP
            if gaps and float(np.median(gaps)) > limit:
                out.append(Finding("goal_missed", f.name,
                                   f"`{f.name}` stayed a median {_fmt(float(np.median(gaps)))}{unit} away from its target "
                                   f"{f.target:g}{unit} over the second half of the held-out episodes.",
                                   float(np.median(gaps))))
    return out


def gap(t: FieldTrace, target: float | None) -> float | None:
    """Median ``|value - target|`` over the episode's second half: measured by the evaluation when it measured to
    this target (the body's reference value), else from the second half's quantiles (a target the task states)."""
    if target is None:
        return None
    if t.gap is not None and (t.gap_to is None or t.gap_to == target):  # records without gap_to: the body's target
        return t.gap
    return float(np.median(np.abs(np.asarray(t.half) - target))) if t.half else None


def forward_field(spec: StateSpec) -> StateField | None:
    """The scalar field that says which way is forward (``forward_sign``), if the task has one."""
    return next((f for f in spec.fields if f.forward_sign and not f.shape), None)


def _still_scale(f: StateField) -> float:
    if f.kind == "position":
        return STILL * (f.high - f.low) if f.low is not None and f.high is not None else STILL
    return 0.02 * (f.high - f.low) / 2 if f.low is not None and f.high is not None else 0.05


def _motion(o: EpisodeOutcome, f: StateField) -> tuple[float, float] | None:
    """(net progress, activity) per step (position fields) or per second-unit (velocity fields)."""
    t = o.fields.get(f.name)
    if t is None or o.length == 0:
        return None
    if f.kind == "position":
        return f.forward_sign * (t.last - t.first) / o.length, t.path / o.length
    return f.forward_sign * t.mean, t.mean_abs


def motion_findings(outcomes: Sequence[EpisodeOutcome], spec: StateSpec, fitness_flat: bool | None) -> list[Finding]:
    """Standing still, oscillating in place, going the wrong way (in most episodes) or not moving the asked way
    (in a few) when the task says which way to move; action chatter when the fitness did not improve."""
    out: list[Finding] = []
    n = len(outcomes)
    if n == 0:
        return out
    fwd = forward_field(spec)
    goal = sum(_success(o, spec) for o in outcomes) >= MAJORITY * n
    no_progress = bool(fitness_flat)
    if fwd is not None and not goal:
        found, med_net = _forward_findings(outcomes, fwd)
        out += found
        no_progress = no_progress or med_net < _still_scale(fwd)
    out += _circling(outcomes, spec)
    low, high = spec.action.low, spec.action.high
    continuous = low is not None and high is not None and low < 0 < high
    chatter = sum(o.action.switch_rate >= CHATTER_SWITCH and o.action.mean_abs >= CHATTER_MAGNITUDE for o in outcomes)
    if continuous and no_progress and chatter >= MAJORITY * n:
        rate = float(np.median([o.action.switch_rate for o in outcomes]))
        mag = float(np.median([o.action.mean_abs for o in outcomes]))
        out.append(Finding("action_chatter", None,
                           f"the actions flipped sign on {rate:.0%} of steps at a median {mag:.0%} of their bound in "
                           f"{chatter} of {n} held-out episodes, without progress.", rate))
    return out


@dataclass(frozen=True)
class _Move:
    """One episode along the forward field: net progress the task's way and all movement, per step or unit."""

    seed: int
    net: float
    activity: float
    still: bool
    wrong: bool
    swing: bool
    went: bool
    """It made progress the way the task asks (at least the still threshold and 15 % of its movement)."""


def _moves(outcomes: Sequence[EpisodeOutcome], fwd: StateField) -> list[_Move]:
    eps = _still_scale(fwd)
    out = []
    for o in outcomes:
        m = _motion(o, fwd)
        if m is None:
            continue
        net, a = m
        still = a < eps or (o.action.mean_abs < IDLE_ACTION and abs(net) < eps)
        out.append(_Move(seed=o.seed, net=net, activity=a, still=still, wrong=net <= -eps and -net >= NET_SHARE * a,
                         swing=a >= 3 * eps and abs(net) < NET_SHARE * a, went=net >= eps and net >= NET_SHARE * a))
    return out


def _forward_findings(outcomes: Sequence[EpisodeOutcome], fwd: StateField) -> tuple[list[Finding], float]:
    """The findings on the forward field, and the median net progress along it."""
    n = len(outcomes)
    moves = _moves(outcomes, fwd)
    if not moves:
        return [], 0.0
    unit = fwd.unit if fwd.kind != "position" else f"{fwd.unit}/step"
    way = asked_word(fwd, fwd.forward_sign)
    med_net = float(np.median([m.net for m in moves]))
    med_act = float(np.median([m.activity for m in moves]))
    still, wrong = sum(m.still for m in moves), sum(m.wrong for m in moves)
    swung = [m for m in moves if m.swing]
    if still >= MAJORITY * n:
        return [Finding("motionless", fwd.name, f"`{fwd.name}` barely changed: median movement {_fmt(med_act)} "
                                                f"{unit} in {still} of {n} held-out episodes.", med_act)], med_net
    if wrong >= MAJORITY * n:
        return [Finding("wrong_direction", fwd.name,
                        f"in {wrong} of {n} held-out episodes the body went the wrong way: a median net "
                        f"{_fmt(med_net)} {unit} along `{fwd.name}`, against the task's direction ({way}).", med_net)], med_net
    if len(swung) >= MAJORITY * n:
        net, act = float(np.median([m.net for m in swung])), float(np.median([m.activity for m in swung]))
        rest = [m.net for m in moves if m.went]
        others = f"; {len(rest)} went {way} (median {_fmt(float(np.median(rest)))} {unit})" if rest else ""
        return [Finding("oscillating", fwd.name,
                        f"in {len(swung)} of {n} held-out episodes `{fwd.name}` went back and forth (median {_fmt(act)} "
                        f"{unit} of movement) for a net {_fmt(net)} {unit} {way}{others}.", net / max(act, 1e-12))], med_net
    missed = [m for m in moves if not m.went]
    if fwd.target is not None or len(missed) < MISSED * n:
        return [], med_net  # on a field with a goal to get past, goal_missed says it
    return [_motion_missed(fwd, moves, n, unit, way)], med_net


def _motion_missed(fwd: StateField, moves: list[_Move], n: int, unit: str, way: str) -> Finding:
    """A few episodes did not go the way the task asks: how many, how they moved instead, their seeds."""
    missed = [m for m in moves if not m.went]
    how = [f"{k} {what}" for k, what in ((sum(m.still for m in missed), "barely moved"),
                                          (sum(m.wrong for m in missed), f"went {opposite_word(way)}")) if k]
    went = [m.net for m in moves if m.went]
    than = f" against {_fmt(float(np.median(went)))} in the other {len(went)}" if went else ""
    seeds = ", ".join(str(m.seed) for m in missed[:3]) + (", …" if len(missed) > 3 else "")
    return Finding("motion_missed", fwd.name,
                   f"in {len(missed)} of {n} held-out episodes `{fwd.name}` did not go {way} as the task asks"
                   + (f" ({'; '.join(how)})" if how else "")
                   + f": a median net {_fmt(float(np.median([m.net for m in missed])))} {unit} {way}{than} (seeds {seeds}).",
                   float(len(missed)))


def _circling(outcomes: Sequence[EpisodeOutcome], spec: StateSpec) -> list[Finding]:
    """A field the task wants held near a target that instead sweeps its whole range again and again."""
    out = []
    n = len(outcomes)
    for f in spec.fields:
        if f.target_kind != "hold" or f.low is None or f.high is None or f.shape:
            continue
        span = f.high - f.low
        traces = [o.fields[f.name] for o in outcomes if f.name in o.fields]
        swept = [t for t in traces if t.path >= CIRCLING * span and (gap(t, f.target) or 0.0) > TARGET_GAP * span]
        if traces and len(swept) >= MAJORITY * n:
            unit = "" if f.unit == "1" else f" {f.unit}"
            travel = float(np.median([t.path for t in swept]))
            out.append(Finding("oscillating", f.name,
                               f"`{f.name}` travelled a median {_fmt(travel)}{unit} per episode ({travel / span:.0f}× its "
                               f"range [{f.low:.3g}, {f.high:.3g}]) in {len(swept)} of {n} held-out episodes instead of "
                               f"staying near its target {f.target:g}{unit}.", travel / span))
    return out


def length_farming_at_eval(outcomes: Sequence[EpisodeOutcome], spec: StateSpec, alive: tuple[str, float] | None,
                           share: float) -> Finding | None:
    """Episodes cut at the time limit without reaching a goal, on a term that pays per step alive."""
    n = len(outcomes)
    has_goal = any(f.target_kind in ("reach_at_least", "reach_at_most") for f in spec.fields)
    if alive is None or n == 0 or not has_goal:
        return None
    capped = sum(o.truncated for o in outcomes)
    reached = sum(_success(o, spec) for o in outcomes)
    if capped < 0.8 * n or reached > 0:
        return None
    name, per_step = alive
    steps = float(np.median([o.length for o in outcomes]))
    return Finding("length_farming", name,
                   f"{capped} of {n} held-out episodes ran to the time limit ({steps:.0f} steps) without reaching the goal, "
                   f"while `{name}` paid a steady {per_step:.3g} per step ({share:.0%} of the reward).", float(capped))

"""The critic's gate: a vision-language verdict the recorded state contradicts is dropped (issue 25).

A model looking at a few frames can be wrong ("reached the flag" while the position never passed it; "fell"
while ``healthy`` stayed 1). A subtask with a :class:`~agent.records.critic.StateCheck` can be read off the
episode's recorded state, so a verdict on it is checked against the numbers by a small rule set:

- the episode's own status for the check: ``at some step`` (reach) and ``at every step`` (stay) and ``at the end``
  are done or not; ``over the second half`` (hold near a target) is done when at least :data:`MOSTLY` of those
  steps meet it, not when at most :data:`RARELY` do, partly between; ``moves ±`` is done when the net change (a
  position) or the mean (a speed) goes the asked way by more than a small margin, not when it does not go that
  way at all, partly between;
- a verdict of ``done`` on a check the state says is ``not`` is dropped, and ``not`` where the state says ``done``;
  ``partly`` is a judgement the numbers cannot refute and always passes;
- a ``done`` on a reach that points at a frame is dropped when the target had not been reached by that frame's
  step (the model cannot have seen it there).

Subtasks without a check, or whose field the rollout lacks, pass ungated and are labelled so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rewardsmith.agent.records.critic import Contradiction, CriticFrame, Verdict, VerdictLabel
from rewardsmith.agent.records.subtasks import StateCheck, Subtask
from rewardsmith.core.state import StateField

MOSTLY = 0.8
"""A hold over the second half is done when this fraction of its steps meet it."""
RARELY = 0.2
"""…and not done when at most this fraction do."""
MOVE_MARGIN = 0.01
"""Net movement within this fraction of the field's range (or this many units without one) is no movement."""


@dataclass(frozen=True)
class Measured:
    """What the recorded episode says about one check."""

    status: VerdictLabel
    text: str
    """In words, with the numbers: ``position reached 0.47 (>= 0.45) at step 88``."""


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def _values(check: StateCheck, values: np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64).reshape(len(values), -1)[:, 0]
    return np.abs(v - check.around) if check.around is not None else v


def _meets(check: StateCheck, v: np.ndarray) -> np.ndarray:
    return v >= check.threshold if check.op == ">=" else v <= check.threshold


def measure(check: StateCheck, values: np.ndarray, field: StateField) -> Measured:
    """The episode's status for ``check``; ``values`` is the field's recorded ``(T,)`` values (row t: after step t+1)."""
    if len(values) == 0:
        return Measured("partly", "the episode recorded no step")
    if check.kind == "move":
        return _move(check, np.asarray(values, dtype=np.float64).reshape(len(values), -1)[:, 0], field)
    v = _values(check, values)
    ok = _meets(check, v)
    name = f"|{check.field} - {check.around:g}|" if check.around is not None else check.field
    extreme = float(v.max() if check.op == ">=" else v.min())
    best = "max" if check.op == ">=" else "min"
    if check.when == "some":
        hit = int(np.argmax(ok)) if ok.any() else None
        return (Measured("done", f"{name} reached {_fmt(float(v[hit]))} ({check.op} {check.threshold:g}) at step {hit + 1}")
                if hit is not None else
                Measured("not", f"{name} never reached {check.threshold:g} ({best} {_fmt(extreme)} in {len(v)} steps)"))
    if check.when == "every":
        bad = int(np.argmin(ok)) if not ok.all() else None
        return (Measured("done", f"{name} stayed {check.op} {check.threshold:g} at all {len(v)} steps") if bad is None
                else Measured("not", f"{name} was {_fmt(float(v[bad]))} at step {bad + 1}, not {check.op} "
                                     f"{check.threshold:g}"))
    if check.when == "end":
        return Measured("done" if ok[-1] else "not", f"{name} was {_fmt(float(v[-1]))} at the last step {len(v)}")
    half = ok[len(ok) // 2:]
    share = float(half.mean())
    status: VerdictLabel = "done" if share >= MOSTLY else "not" if share <= RARELY else "partly"
    return Measured(status, f"{name} was {check.op} {check.threshold:g} on {share:.0%} of the second half's steps")


def _move(check: StateCheck, v: np.ndarray, field: StateField) -> Measured:
    span = (field.high - field.low) if field.low is not None and field.high is not None else 1.0
    if field.kind == "position":
        net, what = check.sign * float(v[-1] - v[0]), "net change"
    else:
        net, what = check.sign * float(v.mean()), "mean"
    margin = MOVE_MARGIN * span
    status: VerdictLabel = "done" if net > margin else "not" if net <= 0 else "partly"
    return Measured(status, f"{check.field}'s {what} the asked way ({'+' if check.sign > 0 else '-'}) was {_fmt(net)}")


def reached_by(check: StateCheck, values: np.ndarray, step: int) -> bool:
    """A reach (``at some step``) check met within the first ``step`` steps (the frame after step ``step``)."""
    v = _values(check, values)[:max(0, step)]
    return bool(_meets(check, v).any())


def gate(verdicts: Sequence[Verdict], subtasks: Sequence[Subtask], states: dict[str, np.ndarray],
         fields: dict[str, StateField], frames: Sequence[CriticFrame]) -> tuple[tuple[Verdict, ...], tuple[Contradiction, ...]]:
    """Split ``verdicts`` into the kept ones and the contradicted ones (with what the recorded state says).

    ``states``: the episode's recorded values by field name, ``(T,)`` or ``(T, n)``; ``frames``: what was sent.
    """
    by_id = {s.id: s for s in subtasks}
    steps = {f.index: f.step for f in frames}
    kept: list[Verdict] = []
    dropped: list[Contradiction] = []
    for v in verdicts:
        check = by_id[v.subtask].check if v.subtask in by_id else None
        if check is None or check.field not in states or check.field not in fields:
            kept.append(v)
            continue
        values = states[check.field]
        m = measure(check, values, fields[check.field])
        if (v.verdict, m.status) in (("done", "not"), ("not", "done")):
            dropped.append(Contradiction(verdict=v, state=f"the critic said {v.verdict}, but {m.text}"))
        elif (v.verdict == "done" and check.kind == "compare" and check.when == "some" and v.frame in steps
              and not reached_by(check, values, steps[v.frame])):
            dropped.append(Contradiction(verdict=v, state=f"the critic saw it done at frame {v.frame} (step "
                                                          f"{steps[v.frame]}), but it was not reached by then: {m.text}"))
        else:
            kept.append(v)
    return tuple(kept), tuple(dropped)

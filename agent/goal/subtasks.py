"""The task as a short list of checkable subtasks (issue 25, after RDA's subtask decomposition).

Two sources, one record (:class:`~agent.records.critic.Subtask`):

- :func:`task_subtasks` reads them from the task itself: one per clause of the description ("Drive the car up
  the right hill" / "reach the flag"), each clause given the state check that :class:`~agent.goal.task_goal.TaskGoal`
  finds for it (a target to reach or hold, a direction to move, staying healthy). A check no clause names becomes
  a subtask of its own; a clause no check fits stays a subtask only a viewer can judge. This is what the offline
  designer states, and what every prompt shows.
- :func:`parse_subtasks` reads a designer's own list from its answer: a fenced ``subtasks`` block, one ``- text``
  per line, optionally ending in a check in brackets — ``[position >= 0.45 at some step]``,
  ``[healthy >= 0.5 at every step]``, ``[|pole_angle - 0| <= 0.05 over the second half]``,
  ``[x_velocity moves +]`` (its net change over the episode, a speed's mean, is positive). A check on a field the task does not have is dropped (the subtask stays).
"""

from __future__ import annotations

import math
import re

from rewardsmith.agent.goal.task_goal import TaskGoal, asked_word
from rewardsmith.agent.records.subtasks import CheckOp, CheckWhen, StateCheck, Subtask
from rewardsmith.core.state import StateField, StateSpec
from rewardsmith.core.text import printable

MAX_SUBTASKS = 6
"""A short list: a viewer (and a model) can judge this many from a few frames."""
MAX_TEXT = 160
"""Characters of one subtask's text (a designer's longer line is cut)."""
HOLD_TOLERANCE = 0.15
"""A ``hold`` target is met within this fraction of the field's range (the analyzer's ``goal_missed`` gap)."""

_CLAUSE = re.compile(r"[;!?]|\.(?!\d)|,?\s*\b(?:and then|then|and|while|whereas|but)\b|,\s+(?=\w+ing\b)"
                     r"|\s+(?=\bwithout\b)")
_SURVIVE = r"fall\w*|upright|healthy|alive|survive|as long as possible"
_BLOCK = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*subtasks[ \t]*\n(.*?)^[ \t]*\1[ \t]*$", re.DOTALL | re.MULTILINE)
_ITEM = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+(?P<text>.*?)\s*(?:\[(?P<check>[^\]]*)\])?\s*$")
_COMPARE = re.compile(r"^\s*(?:\|\s*(?P<afield>[a-z_][a-z0-9_]*)\s*(?:-\s*(?P<around>[-+]?\d+(?:\.\d+)?)\s*)?\|"
                      r"|(?P<field>[a-z_][a-z0-9_]*))\s*(?P<op>>=|<=|≥|≤)\s*(?P<value>[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?)"
                      r"\s*(?P<when>at some step|at every step|at the end|over the second half)?\s*$", re.IGNORECASE)
_MOVE = re.compile(r"^\s*(?P<field>[a-z_][a-z0-9_]*)\s+moves\s*(?P<way>[-+])\s*$", re.IGNORECASE)
_WHEN: dict[str, CheckWhen] = {"at some step": "some", "at every step": "every", "at the end": "end",
                               "over the second half": "second_half"}


# -- from the task's own words ---------------------------------------------------------------------
def task_subtasks(goal: TaskGoal) -> tuple[Subtask, ...]:
    """The subtasks of the task ``goal`` reads: one per clause of its description, with the checks it finds."""
    clauses = [c for c in (" ".join(p.split()).strip(" ,") for p in _CLAUSE.split(goal.description) if p) if len(c.split()) >= 2]
    checks = _goal_checks(goal)
    placed: dict[int, tuple[StateCheck, str]] = {}
    extra: list[tuple[StateCheck, str]] = []
    for check, words, text in checks:
        scores = [(_score(c, words), i) for i, c in enumerate(clauses) if i not in placed]
        best = max(scores, default=(0, -1))
        if best[0] > 0:
            placed[best[1]] = (check, text)
        else:
            extra.append((check, text))
    items: list[tuple[str, StateCheck | None]] = []
    for i, clause in enumerate(clauses):
        items.append((clause[0].upper() + clause[1:], placed[i][0] if i in placed else None))
    items += [(text, check) for check, text in extra]
    return tuple(Subtask(id=n, text=text[:MAX_TEXT], check=check, source="task")
                 for n, (text, check) in enumerate(items[:MAX_SUBTASKS], start=1))


def _score(clause: str, words: str) -> int:
    return len(re.findall(rf"\b(?:{words})", clause.lower())) if words else 0


def _goal_checks(goal: TaskGoal) -> list[tuple[StateCheck, str, str]]:
    """(check, the words a clause names it by, a text for it when no clause does), in the fields' order."""
    out: list[tuple[StateCheck, str, str]] = []
    reached = set()
    for f in goal.spec.fields:
        if f.shape or f.target is None:
            continue
        unit = "" if f.unit == "1" else f" {f.unit}"
        names = _name_words(f)
        stated = next((t.phrase for t in goal.stated if t.field == f.name), "")
        words = "|".join(filter(None, [names, re.escape(stated.lower()) if stated else "", _target_words(f)]))
        if f.target_kind in ("reach_at_least", "reach_at_most"):
            op: CheckOp = ">=" if f.target_kind == "reach_at_least" else "<="
            reached.add(f.name)
            out.append((StateCheck(kind="compare", field=f.name, op=op, threshold=f.target, when="some"),
                        words + "|reach\\w*|get to|arriv\\w*",
                        f"`{f.name}` reaches {'≥' if op == '>=' else '≤'} {f.target:g}{unit}"))
        else:
            tol = HOLD_TOLERANCE * (f.high - f.low) if f.low is not None and f.high is not None else HOLD_TOLERANCE
            out.append((StateCheck(kind="compare", field=f.name, op="<=", threshold=float(f"{tol:.4g}"),
                                   when="second_half", around=f.target),
                        words + "|hold\\w*|keep\\w*|stay\\w*",
                        f"`{f.name}` stays near {f.target:g}{unit}"))
    for m in goal.motions:
        if m.field in reached:
            continue  # reaching the target already says which way
        f = next(x for x in goal.spec.fields if x.name == m.field)
        out.append((StateCheck(kind="move", field=m.field, sign=m.sign), f"{re.escape(m.word)}|{_name_words(f)}",
                    f"`{m.field}` goes {asked_word(f, m.sign)}"))
    if "survive" in goal.intents:
        for f in goal.spec.fields:
            if f.kind == "indicator" and not f.shape:
                out.append((StateCheck(kind="compare", field=f.name, op=">=", threshold=0.5, when="every"),
                            _SURVIVE, f"`{f.name}` stays 1 (it does not fall)"))
    return out


def _name_words(f: StateField) -> str:
    parts = [re.escape(p) for p in f.name.split("_") if len(p) > 2 and p not in ("the", "distance", "position")]
    return "|".join(parts)


def _target_words(f: StateField) -> str:
    """The word a field's doc gives its target (``0 = upright``), and the usual names of a goal."""
    found = re.findall(r"[-+]?\d+(?:\.\d+)?\s*=\s*([a-z][a-z-]*)", f.doc.lower())
    return "|".join([*(re.escape(w) for w in found), "flag", "goal", "target", "centre", "center", "middle"]
                    if f.kind in ("position", "distance") else [re.escape(w) for w in found])


# -- from a designer's answer ----------------------------------------------------------------------
def candidate_subtasks(response: str, spec: StateSpec, task: tuple[Subtask, ...]) -> tuple[Subtask, ...]:
    """The subtasks a candidate is judged on: its designer's own list when its answer states one, else the task's."""
    own, _ = parse_subtasks(response, spec)
    return own or task


def parse_subtasks(response: str, spec: StateSpec) -> tuple[tuple[Subtask, ...], tuple[str, ...]]:
    """The designer's ``subtasks`` block of ``response`` as subtasks (``()`` when it has none), and notes on what
    was set aside (checks on unknown fields, malformed checks, items past :data:`MAX_SUBTASKS`)."""
    block = _BLOCK.search(response)
    if block is None:
        return (), ()
    scalar = {f.name for f in spec.fields if not f.shape}
    out: list[Subtask] = []
    notes: list[str] = []
    for line in block.group(2).splitlines():
        m = _ITEM.match(line)
        if m is None or not m.group("text").strip():
            continue
        if len(out) == MAX_SUBTASKS:
            notes.append(f"more than {MAX_SUBTASKS} subtasks: the rest were left out")
            break
        text = printable(" ".join(m.group("text").split()), MAX_TEXT)
        check, note = _check(m.group("check"), scalar) if m.group("check") is not None else (None, None)
        if note:
            notes.append(f"subtask {len(out) + 1}: {note}")
        out.append(Subtask(id=len(out) + 1, text=text, check=check, source="designer"))
    return tuple(out), tuple(notes)


def _check(text: str, fields: set[str]) -> tuple[StateCheck | None, str | None]:
    shown = printable(text, 80)
    if (m := _MOVE.match(text)) is not None:
        name = m.group("field")
        if name not in fields:
            return None, f"no scalar state field {name!r} (check [{shown}] dropped)"
        return StateCheck(kind="move", field=name, sign=1 if m.group("way") == "+" else -1), None
    m = _COMPARE.match(text)
    if m is None:
        return None, f"unreadable check [{shown}] dropped"
    name = m.group("afield") or m.group("field")
    value = float(m.group("value"))
    if name not in fields:
        return None, f"no scalar state field {name!r} (check [{shown}] dropped)"
    if not math.isfinite(value):
        return None, f"check [{shown}] has no finite threshold"
    op: CheckOp = ">=" if m.group("op") in (">=", "≥") else "<="
    around = float(m.group("around")) if m.group("around") is not None else (0.0 if m.group("afield") else None)
    when = _WHEN[(m.group("when") or "at some step").lower()]
    return StateCheck(kind="compare", field=name, op=op, threshold=value, when=when, around=around), None

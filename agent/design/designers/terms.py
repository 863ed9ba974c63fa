"""Reward terms for the offline designer: a small typed vocabulary and its translation into code.

A :class:`Genome` is a list of :class:`Term` s. Each term is one named reward component built from
one state field (or the action), with a named weight and, where it has one, a named temperature or
tolerance. :func:`to_code` writes the same contract an LLM writes: module-level constants, one
component per term, total = sum of components. :func:`goal_terms` proposes which terms make sense
for a task, from what it asks (:class:`~agent.goal.task_goal.TaskGoal`: the targets it states, the
directions it asks for) and its state fields' metadata — never toward a built-in task's target the task
does not ask for.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import asdict, dataclass, replace
from typing import Literal

from rewardsmith.agent.goal.task_goal import MOTION_KINDS, TaskGoal, read_goal
from rewardsmith.core.state import StateField, StateSpec

TermKind = Literal["closeness", "distance", "reached", "progress", "magnitude", "damping", "action_cost", "alive"]
GENOME_TAG = "# rewardsmith-genome: "

DEFAULT_WEIGHT: dict[str, float] = {
    "closeness": 1.0, "distance": 0.5, "reached": 10.0, "progress": 0.5, "magnitude": 0.5,
    "damping": 0.1, "action_cost": 0.05, "alive": 0.5,
}


@dataclass(frozen=True, kw_only=True)
class Term:
    """One reward component. ``weight`` is a magnitude; the sign comes from the kind (penalties < 0)."""

    kind: TermKind
    field: str | None
    weight: float
    temp: float = 1.0
    """Temperature of ``closeness`` and tolerance of ``reached`` (hold targets), as a fraction of the field's scale."""
    sign: int = 1
    """For ``progress``: +1 rewards larger values, -1 smaller ones."""

    @property
    def name(self) -> str:
        return f"{self.field}_{self.kind}" if self.field else self.kind


@dataclass(frozen=True)
class Genome:
    terms: tuple[Term, ...]

    def key(self) -> tuple:
        """Identity of the structure and (rounded) constants, to avoid proposing the same reward twice."""
        return tuple((t.kind, t.field, t.sign, round(t.weight, 3), round(t.temp, 3)) for t in self.terms)

    def to_json(self) -> str:
        return json.dumps([asdict(t) for t in self.terms], separators=(",", ":"))

    @classmethod
    def from_code(cls, code: str) -> Genome | None:
        """Recover the genome from the header comment, with weights/temperatures as the code now says.

        A person may have edited the constants; the edited values win over the header.
        """
        line = next((ln for ln in code.splitlines() if ln.startswith(GENOME_TAG)), None)
        if line is None:
            return None
        try:
            terms = [Term(**t) for t in json.loads(line[len(GENOME_TAG):])]
        except (ValueError, TypeError):
            return None
        consts = _constants(code)
        updated = []
        for t in terms:
            t = replace(t, weight=abs(consts.get(_const("W", t.name), t.weight)))
            updated.append(replace(t, temp=abs(consts.get(_const("TEMP", t.name), t.temp))))
        return cls(tuple(updated))


def _constants(code: str) -> dict[str, float]:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return {}
    out = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            try:
                value = ast.literal_eval(stmt.value)
            except ValueError:
                continue
            if isinstance(value, int | float):
                out[stmt.targets[0].id] = float(value)
    return out


def _const(prefix: str, name: str) -> str:
    return f"{prefix}_{name.upper()}"


def field_scale(f: StateField) -> float:
    """Half the field's usual range: the unit its terms are normalised by (1 if unknown)."""
    if f.low is not None and f.high is not None and f.high > f.low:
        return (f.high - f.low) / 2.0
    return 1.0


# -- code generation --------------------------------------------------------------------------
def to_code(genome: Genome, spec: StateSpec, description: str, note: str) -> str:
    fields = {f.name: f for f in spec.fields}
    consts: dict[str, float] = {}
    lines: list[str] = []
    for t in genome.terms:
        expr = _term_expr(t, fields.get(t.field) if t.field else None, consts)
        lines.append(f"    {t.name} = {expr}")
    body_names = [t.name for t in genome.terms]
    header = [
        f'"""Reward for: {description}', "",
        "Written by RewardSmith's offline designer (evolutionary search over reward terms; not a language model).",
        f"{note}", '"""', "",
        GENOME_TAG + genome.to_json(),
        "import numpy as np", "",
    ]
    const_lines = [f"{k} = {v!r}" for k, v in consts.items()]
    fn = [
        "", "",
        "def compute_reward(state, action):",
        *lines,
        "    components = {",
        *(f'        "{n}": {n},' for n in body_names),
        "    }",
        "    total = " + " + ".join(body_names),
        "    return total, components",
    ]
    return "\n".join(header + const_lines + fn) + "\n"


def _term_expr(t: Term, f: StateField | None, consts: dict[str, float]) -> str:
    w = _const("W", t.name)
    consts[w] = round(t.weight, 4)
    if t.kind == "alive":
        return f"{w} * np.ones(len(action))"
    if t.kind == "action_cost":
        return f"-{w} * np.sum(np.square(action), axis=1)"
    assert f is not None
    x = f"state.{f.name}"
    scale = _const("SCALE", f.name)
    consts.setdefault(scale, round(field_scale(f), 4))
    target = _const("TARGET", f.name)
    if f.target is not None:
        consts.setdefault(target, f.target)
    dev = f"({x} - {target})" if f.target is not None else x
    if f.shape:
        dev_norm = f"np.linalg.norm({dev}, axis=1)"
        mag = f"np.linalg.norm({x}, axis=1)"
        val = f"np.sum({x}, axis=1)"
    else:
        dev_norm, mag, val = f"np.abs({dev})", f"np.abs({x})", x
    if t.kind == "closeness":
        temp = _const("TEMP", t.name)
        consts[temp] = round(t.temp, 4)
        inner = dev_norm if f.shape else dev
        return f"{w} * np.exp(-np.square({inner} / ({temp} * {scale})))"
    if t.kind == "distance":
        return f"-{w} * {dev_norm} / {scale}"
    if t.kind == "reached":
        if f.target_kind == "reach_at_least":
            cond = f"{x} >= {target}"
        elif f.target_kind == "reach_at_most":
            cond = f"{x} <= {target}"
        else:
            temp = _const("TEMP", t.name)
            consts[temp] = round(t.temp, 4)
            cond = f"{dev_norm} < {temp} * {scale}"
        return f"{w} * ({cond}).astype(np.float64)"
    if t.kind == "progress":
        sign = "" if t.sign > 0 else "-"
        return f"{sign}{w} * {val} / {scale}"
    if t.kind == "magnitude":
        return f"{w} * {mag} / {scale}"
    if t.kind == "damping":
        return f"-{w} * np.square({mag} / {scale})"
    raise ValueError(f"unknown term kind {t.kind!r}")


# -- which terms make sense for a task --------------------------------------------------------
@dataclass(frozen=True)
class PoolEntry:
    """A term the designer may use, with how likely a fresh candidate includes it."""

    term: Term
    p: float


def term_pool(spec: StateSpec, description: str, fitness_doc: str = "") -> list[PoolEntry]:
    """:func:`goal_terms` for a task on the body ``spec`` with this description (and fitness doc line)."""
    return goal_terms(read_goal(spec, description, fitness_doc))


def goal_terms(goal: TaskGoal) -> list[PoolEntry]:
    """The terms the designer may use for a task, each with how likely a fresh candidate includes it."""
    spec, description = goal.spec, goal.description
    want, wanted = goal.intents, goal.directions
    regions = {t.field for t in goal.stated}
    pool: list[PoolEntry] = []
    # A direction asked of a rotation or a motion ("spin counter-clockwise", "move left") is the task: terms
    # that hold the body still or upright work against it unless the description also asks to hold.
    # A goal to get past (MountainCar's flag) already says which way, and so does a region to hold ("near 1.0 m,
    # right of the centre": the word is about where, not which way to keep moving).
    threshold_goal = any(f.target_kind in ("reach_at_least", "reach_at_most") for f in spec.fields)
    fields = {f.name: f for f in spec.fields}
    moving = {m.field for m in goal.motions if m.asked and not fields[m.field].shape
              and fields[m.field].kind in MOTION_KINDS and fields[m.field].target is None and not threshold_goal
              and not regions}
    # A goal to get *past* (a flag up a hill) usually needs momentum first; holding a target does not,
    # and a speed bonus there only makes the body overshoot.

    def add(kind: TermKind, field: str | None, p: float, temp: float = 0.3, sign: int = 1) -> None:
        pool.append(PoolEntry(Term(kind=kind, field=field, weight=DEFAULT_WEIGHT[kind], temp=temp, sign=sign), p))

    spinning = any(f.kind == "angular_velocity" for f in spec.fields if f.name in moving)
    for f in spec.fields:
        motion = f.kind in ("velocity", "angular_velocity")
        if f.name in moving:
            add("progress", f.name, 0.95, sign=f.forward_sign)  # the goal's forward_sign is the task's way
            continue
        if f.target is not None and f.target_kind == "hold":
            held = ("hold" in want and not (spinning and f.kind == "angle")) or f.name in regions
            add("closeness", f.name, 0.9 if held else 0.1 if moving else 0.5)
            add("distance", f.name, 0.3)
            add("reached", f.name, 0.15, temp=0.1)
        elif f.target is not None:
            add("reached", f.name, 0.9)
            # Paying for being nearer a threshold goal at every step invites parking as near as the body
            # can hold still (MountainCar: pushing right forever); measured, it cost half the fitness.
            add("progress", f.name, 0.3, sign=1 if f.target_kind == "reach_at_least" else -1)
        if f.forward_sign and f.target is None:
            add("progress", f.name, 0.9 if "fast" in want else 0.4, sign=f.forward_sign)
        if motion:
            slow = "slower" in wanted or re.search(r"\b(slow\w*|still|stop)\b", description.lower()) is not None
            add("damping", f.name, 0.7 if slow else 0.4 if "hold" in want and not moving else 0.1)
            add("magnitude", f.name, 0.6 if threshold_goal else 0.05)
        if f.kind == "height":
            lower = "lower" in wanted or "down" in wanted
            add("progress", f.name, 0.8 if "high" in want or lower else 0.4 if want & {"reach", "hold"} else 0.15,
                sign=-1 if lower else 1)
        if f.kind == "indicator":
            add("progress", f.name, 0.6 if "survive" in want else 0.2)
    add("action_cost", None, 0.7 if "efficient" in want else 0.3)
    add("alive", None, 0.7 if "survive" in want else 0.05)
    return pool

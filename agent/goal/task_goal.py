"""What one task asks, read once from the task itself: :class:`TaskGoal`.

A body's state fields carry reference targets for the body's built-in task (the pendulum's ``angle``: hold 0,
"upright"); a new task on the same body asks for something else ("spin it counter-clockwise"). So a field
keeps its built-in target only when the task *is* the body's built-in one (same body, same description as a
task file in ``envs/tasks/``) or when the description names what that target means (the doc's ``0 = upright``
and "keep it upright"); the description's own numbers are targets too (:mod:`agent.goal.targets`). Which way
to move comes from the task's direction words against each field's documented sign convention, and from the
fitness function's doc line when the description names no direction (issue 26, item 1).

The analyzer judges behaviour against :attr:`TaskGoal.spec` (``agent.context`` reads it once per run); the
offline designer builds its terms from the same record (:mod:`agent.design.designers.terms`).
"""

from __future__ import annotations

import ast
import re
import tomllib
from dataclasses import dataclass, replace
from functools import cache, lru_cache
from pathlib import Path

from rewardsmith.agent.goal.reading import direction_sign, directions, doc_direction, intents, opposite
from rewardsmith.agent.goal.targets import StatedTarget, stated_targets
from rewardsmith.core.state import StateField, StateSpec
from rewardsmith.envs.fitness import BUILTIN_METRICS
from rewardsmith.envs.tasks import ADAPTERS, Task, builtin_task_files, load_task_file

MOTION_KINDS = ("velocity", "angular_velocity")
"""Fields a direction word asks to move along (``spin counter-clockwise`` → ``angular_velocity`` > 0)."""


@dataclass(frozen=True, kw_only=True)
class AskedMotion:
    """A direction the task asks a field to move in."""

    field: str
    sign: int
    """+1: the field's positive direction (as its doc states it), -1: the opposite."""
    word: str
    """The direction in words, as the field's doc names it (``counter-clockwise``, ``backward``, ``right``)."""
    asked: bool
    """True when the task's words ask it; False when it is the body's forward, kept for a built-in or a speed task."""


@dataclass(frozen=True, kw_only=True)
class TaskGoal:
    """What a task asks: the targets it states and the directions it asks for, on the body's fields."""

    spec: StateSpec
    """The body's fields as the task reads them: only the targets the task states, ``forward_sign`` = the task's way."""
    builtin: bool
    """The body's own built-in task (its fields' reference targets are that task's goal)."""
    description: str
    fitness_doc: str
    """The first line of the fitness function's docstring ("" when it has none)."""
    intents: frozenset[str]
    directions: frozenset[str]
    """The direction words the task asks for (the description's, else the fitness doc's)."""
    stated: tuple[StatedTarget, ...]
    """Targets the description states as numbers (``lean 5 degrees to the left``), in the fields' units."""
    motions: tuple[AskedMotion, ...]

    def describe(self) -> str:
        return describe_asks(self.spec)


def read_goal(spec: StateSpec, description: str, fitness_doc: str = "", *, builtin: bool | None = None) -> TaskGoal:
    """What a task on the body ``spec`` asks, from its description (and its fitness doc line).

    ``builtin``: whether it is the body's built-in task; looked up in ``envs/tasks/`` when not given.
    """
    builtin = is_builtin(spec, description) if builtin is None else builtin
    want = frozenset(intents(description))
    stated = stated_targets(spec, description)
    unstated = description
    for t in stated.values():  # "near 1.0 m, right of the centre": the word says where, not which way to move
        unstated = re.sub(re.escape(t.phrase), " ", unstated, flags=re.IGNORECASE)
    wanted = frozenset(directions(unstated) or directions(re.sub(r"\([^)]*\)", " ", fitness_doc)))
    fields = [_target(f, stated.get(f.name), builtin, description, want, spec) for f in spec.fields]
    threshold = any(f.target_kind in ("reach_at_least", "reach_at_most") for f in fields)
    motions: list[AskedMotion] = []
    for i, (body, f) in enumerate(zip(spec.fields, fields, strict=True)):
        sign = direction_sign(body, wanted)
        if body.forward_sign:
            kept = builtin or ("fast" in want and not wanted)
            by_target = {"reach_at_least": 1, "reach_at_most": -1}.get(f.target_kind or "", 0) if f.target is not None else 0
            forward = sign or by_target or (body.forward_sign if kept else 0)
        elif (not body.shape and body.kind in MOTION_KINDS and f.target is None and not threshold and not stated
              and sign):
            forward = sign
        else:
            forward = 0
        fields[i] = replace(f, forward_sign=forward)
        if forward:
            motions.append(AskedMotion(field=f.name, sign=forward, word=asked_word(body, forward), asked=bool(sign)))
    return TaskGoal(spec=replace(spec, fields=tuple(fields)), builtin=builtin, description=description,
                    fitness_doc=fitness_doc, intents=want, directions=wanted, stated=tuple(stated.values()),
                    motions=tuple(motions))


def task_goal(task: Task) -> TaskGoal:
    """:func:`read_goal` of a loaded task (its fitness doc read from the source, without running it)."""
    return read_goal(task.adapter.spec, task.description, fitness_doc(task.fitness_ref, task.source.parent))


def goal_spec(spec: StateSpec, description: str) -> StateSpec:
    """The body's fields as the task with this description reads them (:attr:`TaskGoal.spec`)."""
    return read_goal(spec, description).spec


def asked_word(f: StateField, sign: int) -> str:
    """The field's direction ``sign`` in its doc's words (``counter-clockwise``), else forward/backward."""
    d = doc_direction(f) or "forward"
    return d if sign > 0 else opposite(d)


def describe_asks(spec: StateSpec) -> str:
    """One line: the directions and targets a goal spec holds (``angular_velocity`` counter-clockwise; no target)."""
    moves = [f"`{f.name}` {asked_word(f, f.forward_sign)}" for f in spec.fields if f.forward_sign]
    marks = {"hold": "near", "reach_at_least": "≥", "reach_at_most": "≤"}
    targets = [f"`{f.name}` {marks[f.target_kind or 'hold']} {f.target:.4g}{'' if f.unit == '1' else ' ' + f.unit}"
               for f in spec.fields if f.target is not None]
    return "; ".join([*(["move " + ", ".join(moves)] if moves else []),
                      "targets " + ", ".join(targets) if targets else "no target value"])


# -- is this the body's built-in task? -------------------------------------------------------------
def _norm(text: str) -> str:
    return " ".join(text.lower().split())


@lru_cache(maxsize=1)
def _builtin_descriptions() -> tuple[tuple[Path, str], ...]:
    """(task file, description) of every built-in task file."""
    return tuple((path, _norm(str(tomllib.loads(path.read_text(encoding="utf-8"))["description"])))
                 for path in builtin_task_files().values())


@cache
def _builtin_spec(path: Path) -> StateSpec:
    """A built-in task's state spec: its Gymnasium body's, or the one derived from its model (compiled only when a
    description matches, so reading a goal does not compile every built-in model)."""
    env = tomllib.loads(path.read_text(encoding="utf-8")).get("env")
    return ADAPTERS[env].spec if isinstance(env, str) and env in ADAPTERS else load_task_file(path).adapter.spec


def is_builtin(spec: StateSpec, description: str) -> bool:
    """A built-in task file asks exactly this of exactly this body."""
    text = _norm(description)
    return any(text == d and _builtin_spec(path) == spec for path, d in _builtin_descriptions())


# -- a built-in target the description names -----------------------------------------------------
_MEANING = re.compile(r"(?P<v>[-+]?\d+(?:\.\d+)?)\s*=\s*(?P<w>[a-z][a-z-]*)"
                      r"|(?P<w2>[a-z]+)\s+(?:stands|is|lies|sits)\s+at\s+(?P<v2>[-+]?\d+(?:\.\d+)?)")
_SAME_AS = {"upright": r"upright|balanc\w*|vertical\w*|invert\w*", "centre": r"cent(?:re|er)\w*|middle",
            "center": r"cent(?:re|er)\w*|middle", "level": r"level\w*|flat|horizontal\w*"}


def _target(f: StateField, stated: StatedTarget | None, builtin: bool, description: str, want: frozenset[str],
            spec: StateSpec) -> StateField:
    if stated is not None:
        return replace(f, target=stated.value, target_kind=stated.kind)
    if f.target is None or builtin or names_target(f, spec, description, want):
        return f
    return replace(f, target=None, target_kind=None)


def names_target(f: StateField, spec: StateSpec, description: str, want: frozenset[str] = frozenset()) -> bool:
    """The description names what the field's reference target means: the doc's ``0 = upright`` and "upright"
    (or "balance"), ``the flag stands at 0.45`` and "flag"; for a distance to be brought to 0, every word of
    the field's name (``distance_to_target``: "target"); for a field the body's health rule names, a task that
    asks not to fall."""
    text = description.lower()
    for m in _MEANING.finditer(f.doc.lower()):
        value, word = m.group("v") or m.group("v2"), m.group("w") or m.group("w2")
        same = _SAME_AS.get(word, re.escape(word) + r"\w*")
        if float(value) == f.target and re.search(rf"\b(?:{same})", text):
            return True
    if f.kind == "distance" and f.target == 0.0:
        names = [w for w in f.name.split("_") if w not in ("distance", "to")]
        if names and all(re.search(rf"\b{re.escape(w)}", text) for w in names):
            return True
    return "survive" in want and any(g.kind == "indicator" and re.search(rf"\b{f.name}\b", g.doc) for g in spec.fields)


# -- the fitness function's doc line, read without running it ------------------------------------
def fitness_doc(ref: str, base_dir: Path) -> str:
    """The first line of the fitness function's docstring: a built-in metric's, or read from the user's file
    with ``ast`` (user code runs only in the evaluator's child processes). "" when there is none."""
    if ":" not in ref:
        fn = BUILTIN_METRICS.get(ref)
        doc = (fn.__doc__ or "") if fn is not None else ""
    else:
        file_part, name = ref.rsplit(":", 1)
        try:
            tree = ast.parse((base_dir / file_part).read_text(encoding="utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
            return ""
        node = next((n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == name), None)
        doc = (ast.get_docstring(node) or "") if node is not None else ""
    lines = doc.strip().splitlines()
    return lines[0].strip() if lines else ""

"""The targets a description states: a value to hold or get past, in the field's own unit and sign convention.

Two forms are read (issue 26, item 11):

- a quantity with a unit, anywhere: ``lean the pole 5 degrees to the left``, ``keep the cart near 1.0 m, right
  of the centre``, ``hold the torso 1.3 m above the ground``, ``spin counter-clockwise at 3 rad/s``. The
  unit picks the fields it can mean (degrees and radians: fields in rad; m, cm, mm: fields in m; m/s,
  rad/s, deg/s, rpm: speeds) and is converted to the field's unit; a direction word next to it (left/right,
  clockwise/counter-clockwise, forward/backward, up/down, above/below) gives the sign by the field's
  documented convention (``positive = right of centre``);
- a bare number after a hold verb and a relation: ``keep x near 2``, ``stay beyond -1.5``, ``hold the
  angle above 0.5`` (in the field's unit as it stands).

A phrase names its field by the words of the field's name (``the pole`` → ``pole_angle`` for an angle);
otherwise the field is the one whose axis the direction word is on, else the first field of the unit's
kind. A tolerance (``within 0.25 m``) is not a target.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass

from rewardsmith.agent.goal.reading import directions, doc_direction, field_direction, word_sign
from rewardsmith.core.state import StateField, StateSpec, TargetKind


@dataclass(frozen=True, kw_only=True)
class StatedTarget:
    """A value the task states for one field, already in the field's unit and sign convention."""

    field: str
    value: float
    kind: TargetKind
    phrase: str
    """The words it was read from (``5 degrees to the left``), for people checking the reading."""


# unit word → (the field unit it converts to, factor); the keys are what :func:`_unit_key` returns
_UNITS: dict[str, tuple[str, float]] = {
    "rad": ("rad", 1.0), "deg": ("rad", math.pi / 180.0),
    "m": ("m", 1.0), "cm": ("m", 0.01), "mm": ("m", 0.001),
    "m/s": ("m/s", 1.0), "cm/s": ("m/s", 0.01),
    "rad/s": ("rad/s", 1.0), "deg/s": ("rad/s", math.pi / 180.0), "rpm": ("rad/s", 2.0 * math.pi / 60.0),
}
_PER_SECOND = r"(?:\s*/\s*s\b|\s+per\s+second\b)"
_UNIT = (r"(?P<unit>(?:°|deg(?:rees?|s)?\b|rad(?:ians?|s)?\b|(?:centi|milli)?met(?:re|er)s?\b|cm\b|mm\b|m\b)"
         rf"{_PER_SECOND}?|rpm\b)")
_RELATION = (r"(?P<rel>at least|at most|no more than|no less than|more than|less than|greater than|further than|"
             r"farther than|beyond|past|above|over|below|under|within|near|around|about|at|to)")
_QUANTITY = re.compile(rf"(?:\b{_RELATION}\s+)?(?:[a-z_]+\s*=\s*)?(?<![\w.])(?P<x>[-+]?\d+(?:\.\d+)?)\s*(?:{_UNIT})?")
_HOLD_VERB = re.compile(r"\b(stay|stays|staying|hold|holds|holding|keep|keeps|keeping|remain\w*)\b")
_REACH_VERB = re.compile(r"\b(reach\w*|get to|gets to|arriv\w*)\b")
_CLAUSE = re.compile(r"[;!?]|\.(?!\d)|\b(?:and|then|while|but|whereas)\b")  # a decimal point ends nothing
_AFTER_DIRECTION = [(re.compile(r"^\W*(?:above)\b"), "up"), (re.compile(r"^\W*(?:below|beneath)\b"), "down")]
_VALUE_ORDER = {"above": "reach_at_least", "over": "reach_at_least", "below": "reach_at_most", "under": "reach_at_most"}
_AT_LEAST = {"at least", "no less than", "more than", "greater than", "further than", "farther than", "beyond", "past"}
_AT_MOST = {"at most", "no more than", "less than"}


def _unit_key(text: str) -> str:
    """``degrees`` → ``deg``, ``metres per second`` → ``m/s``, ``rpm`` → ``rpm``."""
    speed = re.search(_PER_SECOND, text) is not None
    base = re.sub(_PER_SECOND, "", text).strip()
    if base == "rpm":
        return "rpm"
    key = ("deg" if base.startswith(("deg", "°")) else "rad" if base.startswith("rad")
           else "cm" if base.startswith(("cm", "centi")) else "mm" if base.startswith(("mm", "milli")) else "m")
    return f"{key}/s" if speed else key


def stated_targets(spec: StateSpec, description: str) -> dict[str, StatedTarget]:
    """Every target the description states, by field (the last phrase about a field wins)."""
    out: dict[str, StatedTarget] = {}
    text = description.lower()
    bounds = [0, *(m.start() for m in _CLAUSE.finditer(text)), len(text)]
    for start, end in itertools.pairwise(bounds):
        clause = text[start:end]
        for m in _QUANTITY.finditer(clause):
            target = _read(spec, clause, m)
            if target is not None:
                out[target.field] = target
    return out


def _read(spec: StateSpec, clause: str, m: re.Match[str]) -> StatedTarget | None:
    rel, unit = m.group("rel"), m.group("unit")
    before, after = clause[:m.start()], clause[m.end():m.end() + 48]
    if rel == "within" or re.search(r"\b(within|every|per|for|tolerance of|margin of)\s*$", before):
        return None  # a tolerance or a count, not a value to reach
    if unit is None and not (rel and rel != "to" and _HOLD_VERB.search(before)):
        return None  # a bare number is a target only in "keep … near X"
    key = _unit_key(unit) if unit else None
    word = _direction_after(after) or _last_direction(before)
    field = _field(spec, before, key, word)
    if field is None:
        return None
    x = float(m.group("x")) * (_UNITS[key][1] if key else 1.0)
    sign = _axis_sign(field, word) if word else 0
    value = abs(x) * sign if sign else x
    phrase = re.sub(r"^\W*(?:and|then|while|but|whereas)\b", "", clause).strip(" ,.;!?")
    return StatedTarget(field=field.name, value=value, kind=_kind(rel, value, before), phrase=phrase)


def _kind(rel: str | None, value: float, before: str) -> TargetKind:
    if rel in _VALUE_ORDER:
        return _VALUE_ORDER[rel]  # type: ignore[return-value]
    if rel in _AT_LEAST or (rel in (None, "to") and _REACH_VERB.search(before)):
        return "reach_at_least" if value >= 0 else "reach_at_most"
    if rel in _AT_MOST:
        return "reach_at_most" if value >= 0 else "reach_at_least"
    return "hold"


def _direction_after(after: str) -> str | None:
    """The direction word right after the quantity (``5 degrees to the left``, ``0.2 m above the table``)."""
    for pattern, word in _AFTER_DIRECTION:
        if pattern.search(after):
            return word
    found = directions(after.split(" of ")[0] if " of " in after[:24] else after[:32])
    return next(iter(found)) if len(found) == 1 else None


def _last_direction(before: str) -> str | None:
    """A direction word earlier in the clause (``spin counter-clockwise at 3 rad/s``)."""
    found = directions(before)
    return next(iter(found)) if len(found) == 1 else None


def _axis_sign(f: StateField, word: str) -> int:
    """The sign of ``word`` on the field's axis: +1 its positive direction, -1 the opposite, 0 another axis."""
    if f.kind == "height":
        return {"up": 1, "down": -1}.get(word, 0)
    signs = {word_sign(d, {word}) for d in (field_direction(f), doc_direction(f)) if d} - {0}
    return signs.pop() if len(signs) == 1 else 0


_PREFERRED_KIND = {"rad": "angle", "m": "position", "m/s": "velocity", "rad/s": "angular_velocity"}


def _field(spec: StateSpec, before: str, key: str | None, word: str | None) -> StateField | None:
    """The scalar field a quantity is about: named in the phrase, on the direction's axis, of the unit's kind."""
    scalars = [f for f in spec.fields if not f.shape]
    if key is not None:
        scalars = [f for f in scalars if f.unit == _UNITS[key][0]]
    named = [f for f in scalars if all(w in before for w in f.name.split("_"))]
    named = named or [f for f in scalars if any(w in before for w in f.name.split("_") if len(w) > 3)]
    on_axis = [f for f in scalars if word and _axis_sign(f, word)]
    both = [f for f in named if f in on_axis]
    if both or named:
        return (both or named)[0]
    if word is not None:
        return on_axis[0] if on_axis else None  # a direction no field of this unit has: nowhere to put it
    kind = _PREFERRED_KIND.get(_UNITS[key][0]) if key else "position"
    return next((f for f in scalars if f.kind == kind), None)


def region_goals(spec: StateSpec, description: str) -> dict[str, tuple[float, TargetKind]]:
    """``{field: (value, kind)}`` of :func:`stated_targets` (``keep the cart near 1.0 m`` → cart_position: hold 1.0)."""
    return {name: (t.value, t.kind) for name, t in stated_targets(spec, description).items()}

"""What a task asks for, read from its description: intents, direction words, regions to hold.

The offline designer builds terms from these readings (:mod:`agent.design.designers.terms`); the analyzer
judges behaviour against them (:func:`goal_spec`). Each field's direction is read against its own
documented sign convention (``positive = moving right``), never against a built-in task's goal.
"""

from __future__ import annotations

import re
from dataclasses import replace

from rewardsmith.core.state import StateField, StateSpec, TargetKind

# -- what the description asks for ---------------------------------------------------------------
_INTENTS = {
    "reach": r"\b(reach\w*|get to|arriv\w*|flag|goal|target|top|destination)\b",
    "hold": r"\b(balanc\w*|upright|hold\w*|keep\w*|stay\w*|stable|steady|still)\b",
    "fast": r"\b(fast\w*|quick\w*|speed|run\w*|sprint\w*)\b",
    "high": r"\b(high\w*|tall\w*|height|jump\w*|lift\w*)\b",
    "spin": r"\b(spin\w*|rotat\w*|turn\w*|twirl\w*|revolv\w*)\b",
    "efficient": r"\b(efficient\w*|energy|little torque|as little|smooth\w*|gentl\w*|minimal)\b",
    "survive": r"(without falling|as long as possible|stay alive|not fall|don't fall|upright|healthy)",
    "backward": r"\b(backward|backwards|reverse)\b",
}


def intents(description: str) -> set[str]:
    text = description.lower()
    return {name for name, pattern in _INTENTS.items() if re.search(pattern, text)}


# -- direction and sign words against each field's documented sign convention ----------------
_OPPOSITE = {"forward": "backward", "right": "left", "up": "down", "counter-clockwise": "clockwise",
             "higher": "lower", "faster": "slower"}
_OPPOSITE.update({v: k for k, v in list(_OPPOSITE.items())})
_DIRECTION_WORDS = [  # longest first: "counter-clockwise" must not read as "clockwise"
    (r"\b(counter[- ]?clockwise|anti[- ]?clockwise|ccw)\b", "counter-clockwise"), (r"\bclockwise\b", "clockwise"),
    (r"\b(backwards?|in reverse|reverse)\b", "backward"), (r"\bforwards?\b", "forward"),
    (r"\b(to the )?left(wards?)?\b", "left"), (r"\b(to the )?right(wards?)?\b", "right"),
    (r"\b(upwards?|up)\b", "up"), (r"\b(downwards?|down)\b", "down"),
]
_SIGN_DOC = re.compile(r"positive\s*=\s*(?:moving\s+|turning\s+|pushes\s+)?(counter-clockwise|clockwise|forward|backward|"
                       r"left|right|up|down)|\+x is (forward)")


def field_direction(f: StateField) -> str | None:
    """The direction a field's positive values mean, as its doc states it (``positive = moving right``), if it does."""
    if f.forward_sign:
        return "forward" if f.forward_sign > 0 else "backward"
    m = _SIGN_DOC.search(f.doc)
    return next((g for g in m.groups() if g), None) if m else None


def directions(description: str) -> set[str]:
    """The direction words of a description, normalised (``anticlockwise`` → ``counter-clockwise``)."""
    text = description.lower()
    found = set()
    for pattern, word in _DIRECTION_WORDS:
        if re.search(pattern, text):
            found.add(word)
            text = re.sub(pattern, " ", text)
    return found


def direction_sign(f: StateField, wanted: set[str]) -> int:
    """+1 when the description asks for the field's positive direction, -1 for its opposite, 0 when it names neither."""
    d = field_direction(f)
    if d is None:
        return 0
    if d in wanted and _OPPOSITE[d] not in wanted:
        return 1
    if _OPPOSITE[d] in wanted and d not in wanted:
        return -1
    return 0


# -- "stay / hold / keep ... at / near / beyond X" ------------------------------------------------
_REGION = re.compile(r"\b(?:stay|stays|staying|hold|holds|holding|keep|keeps|keeping|remain\w*)\b(?P<what>[^.;]{0,60}?)\b"
                     r"(?P<rel>at|near|around|beyond|past|above|over|below|under)\s+(?:[a-z_]+\s*=\s*)?"
                     r"(?P<x>[-+]?\d+(?:\.\d+)?)")
_REL_KIND = {"at": "hold", "near": "hold", "around": "hold", "above": "reach_at_least", "over": "reach_at_least",
             "below": "reach_at_most", "under": "reach_at_most"}


def region_goals(spec: StateSpec, description: str) -> dict[str, tuple[float, TargetKind]]:
    """Fields the description asks to hold in a region: ``{field: (X, kind)}``.

    The field is the one whose name words appear in the phrase (``keep the torso height above 1.2``), else the
    first scalar position field; ``beyond``/``past`` X means at least X for X > 0, at most X for X < 0.
    """
    out: dict[str, tuple[float, TargetKind]] = {}
    text = description.lower()
    scalars = [f for f in spec.fields if not f.shape]
    for m in _REGION.finditer(text):
        what, rel, x = m.group("what"), m.group("rel"), float(m.group("x"))
        named = [f for f in scalars if all(w in what for w in f.name.split("_"))]
        named = named or [f for f in scalars if any(w in what for w in f.name.split("_") if len(w) > 3)]
        candidates = named or [f for f in scalars if f.kind == "position"]
        if not candidates:
            continue
        field = candidates[0]
        kind: TargetKind = ("reach_at_least" if x >= 0 else "reach_at_most") if rel in ("beyond", "past") else _REL_KIND[rel]  # type: ignore[assignment]
        out[field.name] = (x, kind)
    return out


def task_spec(spec: StateSpec, description: str) -> StateSpec:
    """The spec with the description's own regions as the fields' targets (``keep x near 2`` → x: hold 2)."""
    goals = region_goals(spec, description)
    if not goals:
        return spec
    fields = tuple(replace(f, target=goals[f.name][0], target_kind=goals[f.name][1]) if f.name in goals else f
                   for f in spec.fields)
    return replace(spec, fields=fields)


def goal_spec(spec: StateSpec, description: str) -> StateSpec:
    """The spec as the task's goal reads it, for judging behaviour: :func:`task_spec`'s regions, and the
    forward field's sign turned when the description asks for its opposite (``hop backwards``).

    Not for the designer, which reads the direction words itself (:func:`direction_sign`)."""
    spec = task_spec(spec, description)
    wanted = directions(description)
    fields = tuple(replace(f, forward_sign=-f.forward_sign) if f.forward_sign and direction_sign(f, wanted) < 0 else f
                   for f in spec.fields)
    return replace(spec, fields=fields)

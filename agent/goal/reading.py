"""The words of a task: intents, direction words, and each field's documented sign convention.

:mod:`agent.goal.targets` reads the targets a description states and :mod:`agent.goal.task_goal` puts
both together into what one task asks (:class:`~agent.goal.task_goal.TaskGoal`). Each field's direction
is read against its own documented sign convention (``positive = moving right``), never against a
built-in task's goal.
"""

from __future__ import annotations

import re

from rewardsmith.core.state import StateField

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
_SIGN_DOC = re.compile(r"positive\s*=\s*(?:moving\s+|turning\s+|pushes\s+|leaning\s+|to the\s+)?(counter-clockwise|"
                       r"clockwise|forward|backward|left|right|up|down)|\+x is (forward)")


def opposite(word: str) -> str:
    """``left`` → ``right``, ``clockwise`` → ``counter-clockwise``, …"""
    return _OPPOSITE[word]


def doc_direction(f: StateField) -> str | None:
    """The direction a field's positive values mean, as its doc states it (``positive = moving right``), if it does."""
    m = _SIGN_DOC.search(f.doc)
    return next((g for g in m.groups() if g), None) if m else None


def field_direction(f: StateField) -> str | None:
    """The field's positive direction: ``forward`` where the body says larger is forward, else its doc's word."""
    if f.forward_sign:
        return "forward" if f.forward_sign > 0 else "backward"
    return doc_direction(f)


def directions(description: str) -> set[str]:
    """The direction words of a description, normalised (``anticlockwise`` → ``counter-clockwise``)."""
    text = description.lower()
    found = set()
    for pattern, word in _DIRECTION_WORDS:
        if re.search(pattern, text):
            found.add(word)
            text = re.sub(pattern, " ", text)
    return found


def word_sign(d: str, wanted: set[str] | frozenset[str]) -> int:
    """+1 when ``wanted`` names the direction ``d``, -1 when it names its opposite, 0 when neither or both."""
    if d in wanted and _OPPOSITE[d] not in wanted:
        return 1
    if _OPPOSITE[d] in wanted and d not in wanted:
        return -1
    return 0


def direction_sign(f: StateField, wanted: set[str] | frozenset[str]) -> int:
    """+1 when the description asks for the field's positive direction, -1 for its opposite, 0 when it names neither.

    A field may have two words for its positive direction (MountainCar's position: ``forward`` for the body,
    ``right`` in its doc); either may be asked, and two that disagree ask nothing."""
    words = {w for w in (field_direction(f), doc_direction(f)) if w}
    signs = {word_sign(w, wanted) for w in words} - {0}
    return signs.pop() if len(signs) == 1 else 0

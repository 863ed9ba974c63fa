"""Human feedback between rounds: what a reviewer gives, what a paused round offers, and the constraints.

A round under review is *paused*: the loop writes a :class:`ReviewRequest` (``round_NN/review.json``)
naming the candidates a person may judge, and waits for a :class:`HumanFeedback`
(``round_NN/human.json``, written by ``rewardsmith review``, the web app or the preference oracle).
Everything in it is optional (ICPL best/worst, REvolve-style pairwise choices with comments, free
text, an edited candidate, locked and forbidden components, continue or stop) and all of it reaches
the next round: its prompt, the offline designer (as :class:`Guidance`) and the validation of new
candidates (:func:`agent.design.candidates.check_constraints`).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Literal

Reviewer = Literal["cli", "web", "oracle"]


@dataclass(frozen=True)
class PairChoice:
    """One pairwise judgement (REvolve): ``winner`` behaved better than ``loser``."""

    winner: str
    loser: str
    comment: str = ""


@dataclass(frozen=True)
class LockedComponent:
    """A reward component that every later candidate must keep, in this form."""

    name: str
    source: str
    """The candidate it was locked from."""
    form: str = ""
    """Its expression in that candidate, e.g. ``W_ALIVE * np.ones(len(action))`` (empty if not found)."""


@dataclass(frozen=True, kw_only=True)
class HumanFeedback:
    """``round_NN/human.json``: one review of a paused round. Locks and forbids are the full set in force."""

    round: int
    reviewer: Reviewer
    best: str | None = None
    worst: str | None = None
    pairs: tuple[PairChoice, ...] = ()
    text: str = ""
    """Free-text feedback on the behaviour, in the reviewer's words."""
    edited_from: str | None = None
    """The candidate whose code the reviewer edited; the edit is trained in the next round."""
    edited_code: str | None = None
    locked: tuple[LockedComponent, ...] = ()
    forbidden: tuple[str, ...] = ()
    action: Literal["continue", "stop"] = "continue"
    submitted: str = ""

    @property
    def has_preference(self) -> bool:
        return self.best is not None or self.worst is not None or bool(self.pairs)


@dataclass(frozen=True, kw_only=True)
class ReviewRequest:
    """``round_NN/review.json``: the round is paused for review; what the reviewer may judge."""

    round: int
    mode: Reviewer
    candidates: tuple[str, ...]
    """Trained candidates of this round plus the best so far (a reviewer may keep it)."""
    incumbent: str | None
    """The best so far from an earlier round, offered for comparison."""
    locked: tuple[LockedComponent, ...] = ()
    forbidden: tuple[str, ...] = ()
    created: str = ""


@dataclass(frozen=True, kw_only=True)
class Guidance:
    """What the designers get from all reviews so far (the offline designer reads it; LLMs read the prompt)."""

    best: str | None = None
    """The reviewer's latest choice of best, to be refined."""
    worst: tuple[str, ...] = ()
    """Every candidate a reviewer called the worst of its round."""
    scores: dict[str, float] = field(default_factory=dict)
    """Preference (Elo) score of each judged candidate; higher is preferred."""
    locked: tuple[LockedComponent, ...] = ()
    forbidden: tuple[str, ...] = ()
    text: str = ""
    preference_only: bool = False
    """Fitness is hidden from the designer: rank by ``scores`` only (ICPL's setting)."""


def component_form(code: str, name: str) -> str | None:
    """The expression that computes component ``name`` in ``compute_reward``, as source text.

    Looks for the returned dict (a literal in the ``return`` or a local it returns) and the value
    under key ``name``; a bare local name is followed to its last assignment. None if not found.
    """
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    fn = next((s for s in tree.body if isinstance(s, ast.FunctionDef) and s.name == "compute_reward"), None)
    if fn is None:
        return None
    assigns: dict[str, ast.expr] = {}
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            assigns[node.targets[0].id] = node.value
    for node in ast.walk(fn):
        if not isinstance(node, ast.Dict):
            continue
        for key, value in zip(node.keys, node.values, strict=True):
            if isinstance(key, ast.Constant) and key.value == name:
                if isinstance(value, ast.Name) and value.id in assigns:
                    value = assigns[value.id]
                return ast.get_source_segment(code, value) or ast.unparse(value)
    return None

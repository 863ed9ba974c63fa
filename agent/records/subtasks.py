"""The task as checkable subtasks (issue 25): what each one asks and how the recorded state decides it.

A :class:`Subtask` is one checkable piece of the task ("the car reaches the flag"), optionally with a
:class:`StateCheck` that ties it to a recorded state field (``position >= 0.45 at some step``). They are read
from the task (:mod:`agent.goal.subtasks`) or from a designer's answer, shown in the prompt, the critique and the
web UI, and judged by the critic (:mod:`agent.records.critic`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

CheckOp = Literal[">=", "<="]
CheckWhen = Literal["some", "every", "end", "second_half"]
"""Which steps of the episode the comparison must hold on: at some step (reach), at every step (stay), at the
last step (end), or over the second half (hold near a target: most of those steps)."""
CheckKind = Literal["compare", "move"]


@dataclass(frozen=True, kw_only=True)
class StateCheck:
    """How a subtask is read off the recorded state of an episode.

    ``compare``: ``value(field) op threshold`` on the steps ``when`` names, where ``value`` is the field itself or,
    with ``around`` set, ``|field - around|``. ``move``: the field's net change over the episode (position fields)
    or its mean (speeds) has the sign ``sign``.
    """

    kind: CheckKind
    field: str
    op: CheckOp = ">="
    threshold: float = 0.0
    when: CheckWhen = "some"
    around: float | None = None
    sign: int = 1
    """``move``: +1 the field's positive direction, -1 the opposite."""

    def describe(self) -> str:
        """The check as the prompt and the web UI show it, e.g. ``position >= 0.45 at some step``."""
        if self.kind == "move":
            return f"{self.field} moves {'+' if self.sign > 0 else '-'}"
        value = f"|{self.field} - {self.around:g}|" if self.around is not None else self.field
        when = {"some": "at some step", "every": "at every step", "end": "at the end",
                "second_half": "over the second half"}[self.when]
        return f"{value} {self.op} {self.threshold:g} {when}"


@dataclass(frozen=True, kw_only=True)
class Subtask:
    """One checkable piece of the task."""

    id: int
    """1-based position in the list."""
    text: str
    check: StateCheck | None = None
    """How the recorded state decides it; None: only a person (or the critic) can judge it."""
    source: Literal["task", "designer"] = "task"
    """Read from the task's description (``task``) or stated by the designer in its answer (``designer``)."""

"""The designer interface: given a round's request, return K completions (text with a code block)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from rewardsmith.agent.design.prompting import Message
from rewardsmith.agent.records.results import CandidateResult, Completion
from rewardsmith.agent.records.review import Guidance
from rewardsmith.envs.tasks import Task


@dataclass(frozen=True, kw_only=True)
class DesignRequest:
    """Everything a designer may use to write one round's candidates.

    LLM designers read ``messages``; the offline designer reads the typed ``history`` (the same
    information: earlier candidates, their fitness and critiques).
    """

    task: Task
    round: int
    k: int
    seed: int
    messages: tuple[Message, ...]
    history: tuple[CandidateResult, ...]
    guidance: Guidance | None = None
    """What reviewers said so far (``--review``): preferred and worst candidates, locked and forbidden
    components. LLM designers get the same through ``messages``."""


class Designer(Protocol):
    label: str
    """Says what the designer is, e.g. "offline designer (evolutionary search, no LLM)"."""

    def propose(self, request: DesignRequest) -> list[Completion]:
        """Return ``request.k`` completions (fewer only if the designer cannot produce more)."""
        ...


@runtime_checkable
class FixingDesigner(Designer, Protocol):
    """A designer that can repair a rejected candidate when shown the exact problem (the LLM designers).

    The fix-retry stage sends a rejected candidate back only to designers of this kind. The offline
    designer is not one (its code is valid by construction), nor is the scripted one (its texts are
    fixed): their rejected candidates stay rejected.
    """

    def fix(self, request: DesignRequest, index: int, attempt: int, messages: tuple[Message, ...]) -> Completion | None:
        """A corrected answer for candidate ``index`` of the round (``attempt`` = 2, 3, …).

        ``messages`` are the round's prompt, the failed answer and the problem, from
        :func:`agent.design.prompting.fix_messages`. None when no answer could be had (calls kept failing).
        """
        ...

"""The designer interface: given a round's request, return K completions (text with a code block)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from agent.human import Guidance
from agent.prompting import Message
from agent.records import CandidateResult, Completion
from envs.tasks import Task


@dataclass(frozen=True)
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

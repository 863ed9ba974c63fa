"""Records of the task's subtasks and of the vision-language critic's verdicts on them (issue 25).

The task's subtasks are :class:`~agent.records.subtasks.Subtask` records. The
critic (:mod:`agent.analyze.critic`) shows a vision-language model a few frames of a candidate's
rollout video and the subtask list; its answer becomes one :class:`Verdict` per subtask. The gate
(:mod:`agent.analyze.critic_gate`) drops a verdict the recorded state contradicts and records the
contradiction; :class:`CriticReport` (``critic.json``) keeps both, with what was sent and what it cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from rewardsmith.agent.records.results import Usage
from rewardsmith.agent.records.subtasks import Subtask

VerdictLabel = Literal["done", "partly", "not"]
CriticStatus = Literal["ok", "failed", "skipped"]


@dataclass(frozen=True, kw_only=True)
class CriticFrame:
    """One frame sent to the critic: which video frame, which step of the episode, and why it was chosen."""

    index: int
    """Its number in the critic's request (0-based): the frame the model points at."""
    video_frame: int
    """Frame number in ``video.mp4`` (0 = the reset state)."""
    step: int
    """Environment steps taken when it was rendered (the row ``step - 1`` of the recorded episode)."""
    why: str
    """The key moment it shows: ``start``, ``end (terminated)``, ``peak of position``, …"""
    file: str
    """The JPEG sent, relative to the candidate's folder."""


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """The critic's judgement of one subtask."""

    subtask: int
    verdict: VerdictLabel
    frame: int | None
    """The frame (:attr:`CriticFrame.index`) it points at; None when it named none (or one it was not sent)."""
    reason: str


@dataclass(frozen=True, kw_only=True)
class Contradiction:
    """A verdict the recorded state contradicts: dropped, with what the numbers say."""

    verdict: Verdict
    state: str
    """What the recorded episode shows, e.g. ``position never reached 0.45 (max 0.21)``."""


@dataclass(frozen=True, kw_only=True)
class CriticReport:
    """``critic.json``: the critic's verdicts on one candidate's rollout, gated by its recorded state."""

    candidate_id: str
    model: str
    status: CriticStatus
    error: str | None = None
    """One line: why there are no verdicts (the model could not be called, its answer was malformed, no video)."""
    subtasks: tuple[Subtask, ...] = ()
    seed: int | None = None
    """The seed of the episode the video shows (its recorded state is what the gate reads)."""
    frames: tuple[CriticFrame, ...] = ()
    kept: tuple[Verdict, ...] = ()
    """Verdicts that survived the gate (the only ones that reach the critique and the next prompt)."""
    dropped: tuple[Contradiction, ...] = ()
    notes: tuple[str, ...] = ()
    """What the parser set aside: verdicts on unknown subtasks, repeated ones, frames not sent."""
    usage: Usage = field(default_factory=Usage)
    image_bytes: int = 0
    """JPEG bytes sent (before base64)."""

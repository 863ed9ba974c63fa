"""What the train stage is given: targets to train, the settings they share, and one executor call's legs.

A :class:`TrainTarget` is a candidate (by id) or a baseline ("human", "sparse") with the files it
trains into; :class:`TrainSettings` is what every target of a run trains with; a :class:`Leg` is one
target's training in one executor call (all of it, or a successive-halving rung).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rewardsmith.agent.records.config import RunConfig
from rewardsmith.agent.rundir.store import CandidateFiles, TargetFiles
from rewardsmith.envs.backends.records import RewardKind
from rewardsmith.envs.evaluation import seed_sets
from rewardsmith.envs.tasks import Task


@dataclass(frozen=True, kw_only=True)
class TrainTarget:
    """Something to train: a candidate (by id) or a baseline ("human", "sparse")."""

    key: str
    files: TargetFiles
    reward_kind: RewardKind
    reward_file: Path | None = None
    """The candidate's reward module; None = the target's own ``reward.py``."""
    seed: int | None = None
    """Training seed; None = the settings' seed (shared by all targets of a run)."""
    video: bool = False
    """Record a rollout video (``video.mp4``) after evaluation."""
    artifact: CandidateFiles | None = None
    """Where the backend's validated artifact of the reward lies (the jax backend's exported module);
    None = the target's own files."""

    @property
    def artifact_files(self) -> CandidateFiles | None:
        """The files holding this target's validated artifact, if it is a reward module's target at all."""
        if self.artifact is not None:
            return self.artifact
        return self.files if isinstance(self.files, CandidateFiles) and self.reward_kind == "candidate" else None


@dataclass(frozen=True, kw_only=True)
class TrainSettings:
    """What every target of a run (or of a bench/evaluate command) trains and is evaluated with."""

    steps: int
    seed: int
    timeout_s: float
    call_timeout_s: float
    selection_seeds: tuple[int, ...]
    heldout_seeds: tuple[int, ...]
    video_timeout_s: float = 180.0
    allow_weak_sandbox: bool = False
    """Training jobs may run the candidate below full isolation (``--allow-weak-sandbox``)."""

    @classmethod
    def for_run(cls, task: Task, cfg: RunConfig, steps: int | None = None) -> TrainSettings:
        """The settings every target of a run (or a bench/evaluate command) trains with.

        ``cfg.backend`` must be resolved (:func:`agent.train.backends.resolve_backend`): the task's budget may
        differ by backend (``[train.backend_steps]``).
        """
        selection, heldout = seed_sets(cfg.seed, task.eval.selection_episodes, task.eval.heldout_episodes)
        return cls(steps=steps or cfg.steps or task.train.steps_on(cfg.backend), seed=cfg.seed,
                   timeout_s=cfg.train_timeout_s or float(task.train.timeout_s), call_timeout_s=cfg.call_timeout_s,
                   selection_seeds=selection, heldout_seeds=heldout, allow_weak_sandbox=cfg.allow_weak_sandbox)


@dataclass(frozen=True, kw_only=True)
class Leg:
    """One target's training in one executor call: where it writes, how far it trains, what it resumes."""

    target: TrainTarget
    files: TargetFiles
    steps: int
    resume: TargetFiles | None = None
    """The earlier rung whose checkpoint this training continues (successive halving)."""
    checkpoint: bool = False
    """Also write a checkpoint that a later rung can continue from."""
    video: bool = False
    """Record a rollout video after evaluation."""

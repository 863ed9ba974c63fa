"""The records every training backend shares: what a training job writes and what it reports.

A job writes where its :class:`TrainOutputs` say (the run store chooses the paths); the policy file is
described by its :class:`PolicyConfig` (``format``: which backend wrote it, so evaluation never sniffs
the file), and the outcome of each training is a typed :class:`TrainingResult` with one
:class:`Checkpoint` of statistics per PPO rollout. :class:`Progress` is what the display reads while a
job runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rewardsmith.core.atomic import read_record
from rewardsmith.envs.tasks import Task

RewardKind = Literal["candidate", "env", "sparse"]
TrainStatus = Literal["ok", "crashed", "timeout", "nan"]


@dataclass(frozen=True, kw_only=True)
class TrainOutputs:
    """Where a training job writes; the run store chooses the paths (envs names no run-directory file)."""

    policy_file: str
    """``policy.npz``: the policy's arrays, written atomically once training succeeded."""
    metrics_file: str
    """The :class:`TrainingResult`, written last."""
    progress_file: str
    """:class:`Progress` updates while training, for the orchestrator's display."""
    log_dir: str
    """SB3's own logger output (instead of a fresh ``$TMPDIR/SB3-<time>`` directory per job)."""
    checkpoint_file: str | None = None
    """Where to write the resumable state (policy + Adam, arrays only; :mod:`envs.backends.sb3.checkpoint`), if wanted."""


PolicyFormat = Literal["sb3", "jax"]


@dataclass(frozen=True)
class PolicyConfig:
    """How to rebuild the saved policy for evaluation: which backend's format it is in, and its architecture."""

    use_sde: bool
    policy_kwargs: dict[str, Any] = field(default_factory=dict)
    format: PolicyFormat = "sb3"
    """Who wrote ``policy.npz``: SB3's actor-critic state dict, or the jax backend's flax parameters
    (:func:`envs.backends.load_policy` picks the loader by it; the file itself is never sniffed)."""


@dataclass(frozen=True, kw_only=True)
class TrainingResult:
    """Outcome of one training run. ``status`` is a value, never a sentinel fitness."""

    status: TrainStatus
    error: str | None
    reward_kind: RewardKind
    steps_done: int
    steps_planned: int
    wall_s: float
    components: tuple[str, ...]
    checkpoints: tuple[Checkpoint, ...]
    policy: PolicyConfig | None
    sandbox: str = ""
    nonfinite_steps: int = 0
    """Steps on which the candidate's reward held NaN/inf (trained on as 0; a long streak ends training)."""
    resumed_from_steps: int = 0
    """Steps an earlier job had done before this one continued its training (0: trained from scratch)."""

    @property
    def trained(self) -> bool:
        return self.status == "ok" and self.policy is not None

    @property
    def job_steps(self) -> int:
        """Environment steps this job itself ran (the cost of this job)."""
        return max(0, self.steps_done - self.resumed_from_steps)


def policy_config_of(task: Task) -> PolicyConfig:
    """The policy architecture a task's PPO settings imply (training and evaluation agree on it)."""
    return PolicyConfig(use_sde=task.train.ppo.use_sde, policy_kwargs=task.train.ppo.policy_kwargs())


def trained_policy(metrics_file: str | None, task: Task) -> PolicyConfig:
    """What the training's own record (``metrics.json``) says its policy file is; without one, an SB3
    policy with the task's architecture (a policy file handed over on its own)."""
    if metrics_file is not None and Path(metrics_file).is_file():
        policy = read_record(Path(metrics_file), TrainingResult).policy
        if policy is not None:
            return policy
    return policy_config_of(task)


@dataclass(frozen=True, kw_only=True)
class Checkpoint:
    """Training statistics over one window of environment steps (one PPO rollout).

    Attributes:
        timesteps: environment steps done at the end of the window.
        episodes: episodes that finished in the window.
        episode_length: mean length of those episodes (None if none finished).
        fitness: mean ground-truth fitness of those episodes (diagnostic only; never the score).
        env_return: mean return of the environment's own reward.
        reward_return: mean return of the reward being trained on.
        component_returns: per component, mean per-episode sum over finished episodes.
        component_step_means: per component, mean per-step value over the window.
    """

    timesteps: int
    episodes: int
    episode_length: float | None
    fitness: float | None
    env_return: float | None
    reward_return: float | None
    component_returns: dict[str, float] = field(default_factory=dict)
    component_step_means: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Progress:
    """Written to ``progress.json`` while training, read by the orchestrator's display."""

    done: int
    total: int


@dataclass(frozen=True, kw_only=True)
class RoundStats:
    """How a program that trained every arm of a call at once ran (the jax backend's round): what ``bench``
    and the summary quote."""

    arms: int
    compile_s: float
    run_s: float
    env_steps: int
    """All arms together."""
    steps_per_s: float
    platform: str

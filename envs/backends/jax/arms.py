"""The records of a JAX round: its arms and settings going in, each arm's result coming out.

:mod:`envs.backends.jax.program` compiles the round, :mod:`envs.backends.jax.driver` runs it (and re-exports the
records a caller needs), :mod:`envs.backends.jax.ledger` keeps what the host learns of each arm between the
program's calls; all read these records.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import jax
import numpy as np

from rewardsmith.envs.backends.allocation import AllocationRecord
from rewardsmith.envs.backends.jax.ppo import PPOConfig
from rewardsmith.envs.backends.records import Checkpoint

Array = jax.Array
RewardFn = Callable[[dict[str, Array], dict[str, Array], Array], tuple[Array, dict[str, Array]]]
"""``reward(params {name: (b,)}, state {field: (b, *shape)}, action (b, act_dim)) -> (total (b,), {name: (b,)})``."""
ArmKind = Literal["candidate", "env", "sparse"]
ArmStatus = Literal["ok", "nan", "timeout"]


@dataclass(frozen=True)
class Arm:
    """One reward trained in the round.

    Attributes:
        name: label for logs and results (e.g. ``"r01c03"``, ``"human"``).
        kind: ``candidate`` (``reward`` is called), ``env`` (the env's own reward), ``sparse`` (fitness at the end).
        reward: the candidate's JAX callable (a checked ``jax.export`` module's ``.call`` in a run).
        params: the candidate's named constants, passed to ``reward`` per env as ``(b,)`` float32 arrays.
        seed: the arm's own training seed, or None for the round's.
    """

    name: str
    kind: ArmKind
    reward: RewardFn | None = None
    params: Mapping[str, float] = field(default_factory=dict)
    seed: int | None = None
    """Its training seed; None = the round's (:attr:`RoundConfig.seed`)."""


@dataclass(frozen=True)
class RoundConfig:
    """Budget and settings shared by every arm of the round."""

    steps: int
    """Env-steps per arm (rounded up to whole rollouts, as SB3's ``learn`` does)."""
    n_envs: int
    """Envs per arm."""
    seed: int
    """The seed of every arm without its own (same initial policy and randomness, as the SB3 jobs share ``job.seed``)."""
    ppo: PPOConfig = field(default_factory=PPOConfig)
    max_nonfinite_streak: int = 10
    """Reward steps in a row with NaN/inf that freeze an arm (the SB3 backend's limit)."""
    rollouts_per_call: int = 8
    """PPO iterations per call of the compiled step (the progress granularity; with an allocation, its decision
    points are the calls' ends, so a call never crosses a rung's end)."""
    shrink: Literal["auto", "always", "never"] = "auto"
    """What happens to the program when the allocation stops arms: ``always`` recompiles it for the arms left
    (the stopped ones' envs and updates cost nothing more; one compile), ``never`` keeps it and freezes the
    stopped arms (no compile; they still cost their share of every step), ``auto`` recompiles when the training
    time it saves over the rest of the round is worth more than the compile, both measured on this round."""


@dataclass(frozen=True)
class ArmResult:
    """What one arm's training produced; maps onto :class:`envs.backends.records.TrainingResult`."""

    name: str
    kind: ArmKind
    status: ArmStatus
    error: str | None
    steps_done: int
    components: tuple[str, ...]
    checkpoints: tuple[Checkpoint, ...]
    nonfinite_steps: int
    params: dict[str, np.ndarray]
    """The trained policy as flat named arrays (see :mod:`envs.backends.jax.policy`)."""
    losses: dict[str, tuple[float, ...]] = field(default_factory=dict)
    """PPO's own statistics per rollout it trained on (``policy_loss``, ``value_loss``, ``entropy``,
    ``approx_kl``: the update's means), one value per checkpoint."""
    stopped: bool = False
    """The round's allocation stopped it early (``steps_done`` short of the plan; its policy is the one it had)."""
    resumed_from_steps: int = 0
    """Env-steps it had trained in an earlier process of the round (the segment the round resumed from)."""


@dataclass(frozen=True)
class RoundResult:
    arms: tuple[ArmResult, ...]
    compile_s: float
    """Tracing + XLA compilation of the round's program (once per round, and again each time it shrank)."""
    run_s: float
    """Wall time of the compiled calls (training proper)."""
    steps_per_arm: int
    n_envs: int
    platform: str
    env_steps: int
    """Env-steps the program ran, all arms together (an arm frozen in it still ran; one shrunk out of it did not)."""
    allocation: AllocationRecord | None = None
    """The allocation's decisions (None: every arm trained the full budget)."""
    compiles: int = 1
    """Programs compiled (one per round, plus one each time an allocation shrank it)."""

    @property
    def steps_per_s(self) -> float:
        return self.env_steps / self.run_s if self.run_s > 0 else math.nan


class Window(NamedTuple):
    """Per-arm sums over rollouts for :class:`Checkpoint` (means are taken on the host): ``(K, ...)`` per rollout in
    the program, ``(rollouts, K, ...)`` stacked on the host (:class:`~envs.backends.jax.ledger.Ledger`)."""

    episodes: Any
    length: Any
    env_ret: Any
    total_ret: Any
    fit: Any
    fit_n: Any
    comp_step: Any
    """(K, C)"""
    comp_ret: Any
    """(K, C)"""

"""The training backend seam: one object says how a run's rewards are validated and trained.

A :class:`Backend` holds everything that differs between backends, so that no other module asks
which backend it has: the rules its tracing adds to the designer's prompt, the per-run session it
keeps (the jax backend's export zygote and module checker), how it validates a candidate and what
artifact it keeps for the trainer (the jax backend's checked ``jax.export`` module), how a round's
training is cut into job steps (one process per target, or one program for every target of a call),
and what it supports (allocating a round's budget over its candidates, batched tuning). Every backend trains each
target on its own seed when the target has one (:attr:`~agent.train.targets.TrainTarget.seed`).
Adding a backend is one module here and one entry in :data:`agent.train.backends.BACKENDS`.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar, Literal

from rewardsmith.agent.records.config import BackendName, RunConfig
from rewardsmith.agent.records.train import Allocation
from rewardsmith.agent.rundir.store import CandidateFiles, RoundFiles, RunStore
from rewardsmith.agent.train.executors.base import JobStep
from rewardsmith.agent.train.targets import Leg, TrainSettings
from rewardsmith.core.errors import ConfigError
from rewardsmith.envs.rollout import StateSample
from rewardsmith.envs.tasks import Task
from rewardsmith.sandboxes.validate import ValidationReport


@dataclass(frozen=True, kw_only=True)
class CodeCheck:
    """One reward's code to validate for a task, and where the backend keeps what it hands the trainer."""

    task: Task
    code: str
    sample: StateSample
    """Recorded states the probe runs the reward on."""
    allow_weak_sandbox: bool = False
    store: RunStore | None = None
    files: CandidateFiles | None = None
    """Where an accepted reward's artifact is kept (None with ``store``: a verdict only, e.g. ``rewardsmith validate``)."""


class Backend(ABC):
    """How rewards are validated and trained: stable-baselines3 processes, or one compiled JAX program."""

    name: ClassVar[BackendName]
    """The ``--backend`` value."""
    prompt_rules: ClassVar[tuple[str, ...]] = ()
    """Rules the designer's system prompt adds for this backend (numbered after the common ones)."""
    trains_together: ClassVar[bool] = False
    """Whether a training call's targets train together in one job (:meth:`batch_step`), not one job each."""
    allocation_mode: ClassVar[Literal["rungs", "program"] | None] = None
    """How it trains a round whose budget is allocated (``--allocation``, :mod:`agent.train.allocation`): in rungs,
    each a job continuing from the previous rung's checkpoint; inside the round's program (its
    :meth:`batch_step` gets the allocation); or not at all (None)."""

    @abstractmethod
    def describe(self) -> str:
        """What it does, for the run's header line, e.g. ``stable-baselines3 PPO, one process per candidate``."""

    def check(self, task: Task, config: RunConfig) -> None:
        """Raise :class:`~core.errors.ConfigError` when this backend cannot run ``config`` on ``task``."""
        if config.allocation_plan is not None and self.allocation_mode is None:
            raise ConfigError(f"--allocation needs a backend that trains a round in segments; the {self.name} backend "
                              "cannot (--backend sb3 and jax can)")

    @contextlib.contextmanager
    def session(self, task: Task) -> Iterator[object | None]:
        """What validations of one run share (started here, in the thread that outlives them); None = nothing."""
        yield None

    @abstractmethod
    def validate(self, check: CodeCheck, session: object | None = None) -> ValidationReport:
        """The sandbox's verdict on ``check.code``; an accepted reward's artifact is kept in ``check.files``."""

    def has_artifact(self, store: RunStore, files: CandidateFiles) -> bool:
        """Whether ``files`` hold what training needs besides the reward's source (a validated artifact)."""
        return True

    def batch_step(self, task: Task, legs: list[Leg], settings: TrainSettings, store: RunStore,
                   batch: RoundFiles | None, allocation: Allocation | None = None) -> JobStep | None:
        """One job step that trains every leg at once (its files in ``batch``); None = each leg trains alone.

        The step must write each leg's own training result, and nothing for a leg when the job dies: when the
        step fails, the Trainer calls this again on parts of ``legs`` (each in ``batch.part(label)``) to find
        the leg that made it fail (:mod:`agent.train.isolation`). With ``allocation`` (a backend whose
        :attr:`allocation_mode` is ``program``) the job spreads the budget over the candidates and writes its
        decisions in ``batch`` (:meth:`RunStore.load_program_allocation`)."""
        return None

    def train_step(self, task: Task, leg: Leg, settings: TrainSettings) -> JobStep | None:
        """The job step that trains one leg alone; None = training is done by :meth:`batch_step`."""
        return None

    def tune_batch(self, trials: int) -> int:
        """Trials a tuning study asks for at once (each rung of a batch is one training call)."""
        return 1


"""The default backend: one stable-baselines3 PPO process per target, the reward in a sandboxed worker.

Validation is the sandbox's probe on recorded states (:func:`sandboxes.validate.validate_source`);
the trainer gets the reward's source itself and calls it once per rollout through a sandbox worker
(:mod:`envs.backends.sb3.train`). A training can stop at a rung and continue from its checkpoint
(policy and Adam state), which the round's allocation uses (:mod:`agent.train.allocation`: rungs).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from rewardsmith.agent.records.config import BackendName
from rewardsmith.agent.train.backends.base import Backend, CodeCheck
from rewardsmith.agent.train.executors.base import JobStep
from rewardsmith.agent.train.targets import Leg, TrainSettings
from rewardsmith.envs.backends.sb3.train import ResumeFrom, TrainJob
from rewardsmith.envs.tasks import Task
from rewardsmith.sandboxes.isolation import ALLOW_WEAK_ENV
from rewardsmith.sandboxes.validate import ValidationReport, validate_source


class SB3Backend(Backend):
    name: ClassVar[BackendName] = "sb3"
    allocation_mode: ClassVar[Literal["rungs", "program"] | None] = "rungs"

    def describe(self) -> str:
        return "stable-baselines3 PPO, one process per candidate"

    def validate(self, check: CodeCheck, session: object | None = None) -> ValidationReport:
        return validate_source(check.code, check.task.adapter.spec, check.sample.states, check.sample.actions,
                               allow_weak_isolation=check.allow_weak_sandbox)

    def train_step(self, task: Task, leg: Leg, settings: TrainSettings) -> JobStep | None:
        f, target = leg.files, leg.target
        reward_file = str(target.reward_file or target.files.reward) if target.reward_kind == "candidate" else None
        resume = None
        if leg.resume is not None:
            resume = ResumeFrom(checkpoint_file=str(leg.resume.checkpoint), metrics_file=str(leg.resume.metrics))
        job = TrainJob(task_file=str(task.source), reward_kind=target.reward_kind, reward_file=reward_file,
                       steps=leg.steps, seed=settings.seed if target.seed is None else target.seed,
                       outputs=f.resumable_outputs() if leg.checkpoint else f.train_outputs(),
                       call_timeout_s=settings.call_timeout_s, resume_from=resume,
                       planned_steps=settings.steps if leg.steps < settings.steps else None)
        return JobStep(kind="train", spec=job, spec_file=f.job_spec("train"), log_file=f.job_log("train"),
                       timeout_s=settings.timeout_s, progress_file=f.progress,
                       env={ALLOW_WEAK_ENV: "1"} if settings.allow_weak_sandbox else {})

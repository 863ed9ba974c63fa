"""Training one policy on one reward: stable-baselines3 PPO on a vector of Gymnasium environments.

Runs inside a job process (see :mod:`envs.jobs`). The reward is computed per batch by a
:class:`~envs.reward_wrapper.RewardSource`; a designed reward runs in its own sandboxed worker, so
this process never executes candidate code. Statistics are collected by an SB3 callback into a
typed :class:`TrainingResult`; the policy is saved as plain arrays (``policy.npz``), never pickled.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from core.atomic import write_json
from envs.tasks import Task
from envs.train_stats import Checkpoint, TrainingStats

RewardKind = Literal["candidate", "env", "sparse"]
TrainStatus = Literal["ok", "crashed", "timeout", "nan"]


@dataclass(frozen=True)
class TrainJob:
    """Everything a training process needs, passed as JSON (no pickle)."""

    task_file: str
    reward_kind: RewardKind
    reward_file: str | None
    steps: int
    seed: int
    out_dir: str
    call_timeout_s: float = 5.0
    memory_mb: int = 2048


@dataclass(frozen=True)
class PolicyConfig:
    """How to rebuild the saved policy for evaluation."""

    use_sde: bool
    policy_kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
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

    @property
    def trained(self) -> bool:
        return self.status == "ok" and self.policy is not None


@dataclass(frozen=True)
class Progress:
    """Written to ``progress.json`` while training, read by the orchestrator's display."""

    done: int
    total: int


def policy_config_of(task: Task) -> PolicyConfig:
    """The policy architecture a task's PPO settings imply (training and evaluation agree on it)."""
    kwargs = task.train.ppo.get("policy_kwargs", {})
    return PolicyConfig(use_sde=bool(task.train.ppo.get("use_sde", False)),
                        policy_kwargs=dict(kwargs) if isinstance(kwargs, dict) else {})


POLICY_FILE = "policy.npz"
METRICS_FILE = "metrics.json"
PROGRESS_FILE = "progress.json"


def train(job: TrainJob) -> TrainingResult:
    """Train, save ``policy.npz`` and ``metrics.json`` in ``job.out_dir``, and return the result."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.vec_env import DummyVecEnv

    from envs.reward_wrapper import (
        BatchReward,
        CandidateReward,
        EnvReward,
        NonFiniteReward,
        RewardSource,
        SparseReward,
        StateCapture,
    )
    from envs.tasks import load_task_file
    from sandboxes.client import CandidateFault, RewardProcess, SandboxLimits

    torch.set_num_threads(1)
    started = time.monotonic()
    out = Path(job.out_dir)
    task = load_task_file(Path(job.task_file))
    adapter, n_envs = task.adapter, task.train.n_envs
    policy_config = policy_config_of(task)
    ppo_kwargs = {k: v for k, v in task.train.ppo.items() if k not in ("policy_kwargs", "use_sde")}
    stats = TrainingStats(n_envs)
    process: RewardProcess | None = None
    source: RewardSource
    if job.reward_kind == "candidate":
        assert job.reward_file is not None
        n_steps = ppo_kwargs.get("n_steps", 2048)
        assert isinstance(n_steps, int)
        rollout = n_steps * n_envs  # the candidate is called once per rollout, on all of its states
        limits = SandboxLimits(memory_mb=job.memory_mb, call_timeout_s=job.call_timeout_s, max_batch=rollout)
        process = RewardProcess(Path(job.reward_file).read_text(), adapter.spec, limits)
        source = CandidateReward(process, n_envs)
    else:
        source = EnvReward() if job.reward_kind == "env" else SparseReward()

    class _Stats(BaseCallback):
        def _on_step(self) -> bool:
            return True

        def _on_rollout_end(self) -> None:
            rewards = env.flush()
            if rewards is not None:  # a deferred reward: put it where SB3 stored zeros, then redo the returns
                assert isinstance(self.model, PPO)
                buffer = self.model.rollout_buffer
                buffer.rewards += rewards.astype(np.float32)  # (n_steps, n_envs); keeps SB3's timeout bootstraps
                buffer.compute_returns_and_advantage(last_values=self.locals["values"], dones=self.locals["dones"])
            cp = stats.checkpoint(self.num_timesteps)
            for name, value in cp.component_step_means.items():
                self.logger.record(f"reward/{name}", value)
            write_json(out / PROGRESS_FILE, Progress(self.num_timesteps, job.steps))

    status: TrainStatus = "ok"
    error: str | None = None
    model = None
    try:
        if process is not None:
            process.start()
        venv = DummyVecEnv([lambda: StateCapture(task.make_env(), adapter) for _ in range(n_envs)])
        env = BatchReward(venv, adapter.spec, source, task.fitness, stats)
        model = PPO("MlpPolicy", env, seed=job.seed, device="cpu", verbose=0, use_sde=policy_config.use_sde,
                    policy_kwargs=dict(policy_config.policy_kwargs), **ppo_kwargs)  # type: ignore[arg-type]
        model.learn(total_timesteps=job.steps, callback=_Stats())
    except NonFiniteReward as exc:
        status, error = "nan", str(exc)
    except CandidateFault as fault:
        status, error = ("timeout" if fault.kind == "timeout" else "crashed"), f"{fault.kind}: {fault.message}"
    finally:
        if process is not None:
            process.close()
    policy = None
    if status == "ok" and model is not None:
        state = {k: v.detach().cpu().numpy() for k, v in model.policy.state_dict().items()}
        np.savez(out / POLICY_FILE, **state)
        policy = policy_config
    result = TrainingResult(
        status=status, error=error, reward_kind=job.reward_kind,
        steps_done=model.num_timesteps if model is not None else 0, steps_planned=job.steps,
        wall_s=time.monotonic() - started, components=tuple(stats.components),
        checkpoints=tuple(stats.checkpoints), policy=policy,
        sandbox=process.isolation.describe() if process is not None else "",
        nonfinite_steps=source.nonfinite_steps if isinstance(source, CandidateReward) else 0,
    )
    write_json(out / METRICS_FILE, result)
    return result

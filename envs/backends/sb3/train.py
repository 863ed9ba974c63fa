"""Training one policy on one reward: stable-baselines3 PPO on a vector of Gymnasium environments.

Runs inside a job process (see :mod:`envs.jobs`). The reward is computed per batch by a
:class:`~envs.backends.sb3.reward_wrapper.RewardSource`; a designed reward runs in its own sandboxed worker, so
this process never executes candidate code. Statistics are collected by an SB3 callback into a
typed :class:`TrainingResult`; the policy is saved as plain arrays (``policy.npz``), never pickled.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rewardsmith.core.atomic import read_record, write_bytes, write_json
from rewardsmith.envs.backends.records import (
    RewardKind,
    TrainingResult,
    TrainOutputs,
    TrainStatus,
    policy_config_of,
)
from rewardsmith.envs.backends.sb3.checkpoint import load_checkpoint, save_checkpoint
from rewardsmith.envs.backends.sb3.stats import TrainingStats


@dataclass(frozen=True, kw_only=True)
class ResumeFrom:
    """A training to continue: the checkpoint and the metrics an earlier job (a halving rung) wrote."""

    checkpoint_file: str
    metrics_file: str


@dataclass(frozen=True, kw_only=True)
class TrainJob:
    """Everything a training process needs, passed as JSON (no pickle)."""

    task_file: str
    reward_kind: RewardKind
    reward_file: str | None
    steps: int
    seed: int
    outputs: TrainOutputs
    call_timeout_s: float = 5.0
    memory_mb: int = 2048
    resume_from: ResumeFrom | None = None
    """Continue that training up to ``steps`` in total (``steps`` counts the earlier job's steps too)."""
    planned_steps: int | None = None
    """The whole training's budget when this job stops at a rung of it (recorded as ``steps_planned``); None = ``steps``."""


def train(job: TrainJob) -> TrainingResult:
    """Train, save the policy and the :class:`TrainingResult` where ``job.outputs`` says, and return the result."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.logger import configure
    from stable_baselines3.common.vec_env import DummyVecEnv

    from rewardsmith.envs.backends.sb3.callback import DeferredRewardCallback
    from rewardsmith.envs.backends.sb3.reward_wrapper import (
        BatchReward,
        CandidateReward,
        EnvReward,
        NonFiniteReward,
        RewardSource,
        SparseReward,
        StateCapture,
    )
    from rewardsmith.envs.tasks import load_task_file
    from rewardsmith.sandboxes.client import CandidateFault, RewardProcess, SandboxLimits

    torch.set_num_threads(1)
    started = time.monotonic()
    out = job.outputs
    task = load_task_file(Path(job.task_file))
    adapter, n_envs = task.adapter, task.train.n_envs
    policy_config = policy_config_of(task)
    ppo_kwargs: dict[str, Any] = {k: v for k, v in task.train.ppo.sb3_kwargs().items() if k != "use_sde"}
    stats = TrainingStats(n_envs)
    process: RewardProcess | None = None
    source: RewardSource
    if job.reward_kind == "candidate":
        assert job.reward_file is not None
        rollout = task.train.ppo.n_steps * n_envs  # the candidate is called once per rollout, on all of its states
        limits = SandboxLimits(memory_mb=job.memory_mb, call_timeout_s=job.call_timeout_s, max_batch=rollout)
        process = RewardProcess(Path(job.reward_file).read_text(), adapter.spec, limits)
        source = CandidateReward(process, n_envs)
    else:
        source = EnvReward() if job.reward_kind == "env" else SparseReward()

    status: TrainStatus = "ok"
    error: str | None = None
    model = None
    resumed = 0
    previous: TrainingResult | None = None
    try:
        if process is not None:
            process.start()
        venv = DummyVecEnv([lambda: StateCapture(task.make_env(), adapter) for _ in range(n_envs)])
        env = BatchReward(venv, adapter.spec, source, task.fitness, stats)
        model = PPO("MlpPolicy", env, seed=job.seed, device="cpu", verbose=0, use_sde=policy_config.use_sde,
                    policy_kwargs=dict(policy_config.policy_kwargs), **ppo_kwargs)
        model.set_logger(configure(out.log_dir, format_strings=[]))  # no stray $TMPDIR/SB3-* folders
        if job.resume_from is not None:
            previous = read_record(Path(job.resume_from.metrics_file), TrainingResult)
            resumed = load_checkpoint(model, Path(job.resume_from.checkpoint_file)).num_timesteps
        if job.steps > resumed:  # SB3 counts on from the checkpoint's num_timesteps
            model.learn(total_timesteps=job.steps - resumed, reset_num_timesteps=False,
                        callback=DeferredRewardCallback(env, stats, Path(out.progress_file), job.steps))
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
        buf = io.BytesIO()
        np.savez(buf, **state)
        write_bytes(Path(out.policy_file), buf.getvalue())
        if out.checkpoint_file is not None:
            save_checkpoint(model, Path(out.checkpoint_file))
        policy = policy_config
    before = previous.checkpoints if previous is not None else ()
    known = previous.components if previous is not None else ()
    result = TrainingResult(
        status=status, error=error, reward_kind=job.reward_kind,
        steps_done=model.num_timesteps if model is not None else 0, steps_planned=job.planned_steps or job.steps,
        wall_s=time.monotonic() - started,
        components=(*known, *(c for c in stats.components if c not in known)),
        checkpoints=(*before, *stats.checkpoints), policy=policy,
        sandbox=process.isolation.describe() if process is not None else "",
        nonfinite_steps=(source.nonfinite_steps if isinstance(source, CandidateReward) else 0)
        + (previous.nonfinite_steps if previous is not None else 0),
        resumed_from_steps=resumed,
    )
    write_json(Path(out.metrics_file), result)
    return result

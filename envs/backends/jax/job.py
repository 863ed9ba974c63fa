"""The JAX backend's training job: every arm of a round trained in one process, one compiled program.

Started like the SB3 jobs (``python -m envs.jobs jax_round JOB.json PID``) and bounded by the
executor's timeout from outside. The job never sees candidate Python: each candidate arrives as the
bytes of a ``jax.export`` module that the sandbox traced (``sandboxes.jax.export``); the job checks
every module (:func:`sandboxes.jax.module_check.check_exported`: no custom calls but shape assertions, no
effects, the task's schema) before it calls it. Its outputs are the SB3 jobs' outputs — per arm a
``TrainingResult`` and a policy file at the paths the job spec names — plus a :class:`RoundStats`
record (compile time apart from training time), so evaluation, videos, critique and resume are the
same for both backends.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from rewardsmith.core.atomic import write_json
from rewardsmith.envs.backends.records import Progress, RewardKind, RoundStats, TrainingResult, TrainOutputs


@dataclass(frozen=True, kw_only=True)
class JaxArm:
    """One reward of the round: a candidate's checked module, or a baseline."""

    key: str
    reward_kind: RewardKind
    module_file: str | None = None
    """The candidate's serialized ``jax.export`` module (bytes written at validation)."""
    components: tuple[str, ...] = ()
    constants: dict[str, float] = field(default_factory=dict)
    """The candidate's named constants, fed to the module per env (``params``)."""
    outputs: TrainOutputs


@dataclass(frozen=True, kw_only=True)
class JaxRoundJob:
    task_file: str
    arms: tuple[JaxArm, ...]
    steps: int
    seed: int
    timeout_s: float
    """Training stops past this (compile included); arms still training end with status ``timeout``."""
    progress_file: str
    stats_file: str


def run_round(job: JaxRoundJob) -> RoundStats:
    """Check every module, train all arms in one program, and write each arm's results and policy."""
    from rewardsmith.envs.backends.jax.policy import save_policy
    from rewardsmith.envs.backends.jax.ppo import PPOConfig
    from rewardsmith.envs.backends.jax.program import Arm, RoundConfig, train_round
    from rewardsmith.envs.backends.jax.registry import make_jax_env
    from rewardsmith.envs.backends.records import PolicyConfig
    from rewardsmith.envs.tasks import load_task_file
    from rewardsmith.sandboxes.jax.module_check import check_exported

    started = time.monotonic()
    task = load_task_file(Path(job.task_file))
    env = make_jax_env(task.env_id)
    arms = []
    for a in job.arms:
        if a.reward_kind != "candidate":
            arms.append(Arm(name=a.key, kind=a.reward_kind))
            continue
        assert a.module_file is not None
        exported = check_exported(Path(a.module_file).read_bytes(), task.adapter.spec, task.adapter.spec.action.dim,
                                  a.components, tuple(a.constants))
        arms.append(Arm(name=a.key, kind="candidate", reward=exported.call, params=dict(a.constants)))
    progress = Path(job.progress_file)

    def report(done: int, total: int) -> None:
        write_json(progress, Progress(done, total))

    config = RoundConfig(steps=job.steps, n_envs=task.train.n_envs, seed=job.seed,
                         ppo=PPOConfig.from_task(task.train.ppo))
    result = train_round(env, arms, config, task.fitness_ref, progress=report,
                         timeout_s=max(1.0, job.timeout_s - (time.monotonic() - started) - 30.0))
    for spec, arm in zip(job.arms, result.arms, strict=True):
        policy = None
        if arm.status == "ok":
            save_policy(Path(spec.outputs.policy_file), arm.params, env.discrete, env.action_low, env.action_high)
            policy = PolicyConfig(use_sde=False, format="jax")
        write_json(Path(spec.outputs.metrics_file), TrainingResult(
            status=arm.status, error=arm.error, reward_kind=spec.reward_kind, steps_done=arm.steps_done,
            steps_planned=job.steps, wall_s=result.compile_s + result.run_s, components=arm.components,
            checkpoints=arm.checkpoints, policy=policy, sandbox="jax.export module, checked" if arm.kind == "candidate"
            else "", nonfinite_steps=arm.nonfinite_steps))
    stats = RoundStats(arms=len(result.arms), compile_s=result.compile_s, run_s=result.run_s,
                       env_steps=result.env_steps, steps_per_s=result.steps_per_s, platform=result.platform)
    write_json(Path(job.stats_file), stats)
    return stats

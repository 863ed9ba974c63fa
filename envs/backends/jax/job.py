"""The JAX backend's training job: every arm of a round trained in one process, one compiled program.

Started like the SB3 jobs (``python -m envs.jobs jax_round JOB.json PID``) and bounded by the
executor's timeout from outside. The job never sees candidate Python: each candidate arrives as the
bytes of a ``jax.export`` module that the sandbox traced (``sandboxes.jax.export``); the job checks
every module (:func:`sandboxes.jax.module_check.check_exported`: no custom calls but shape assertions, no
effects, the task's schema) before it calls it, and a refused module is its own arm's failure. The
job's address space is capped (:attr:`JaxRoundJob.memory_mb`, on a CPU), so a module that allocates
without bound ends the job with one ``out of memory`` line instead of taking the machine. A task's
own fitness function runs in a bounded child of the job (:mod:`envs.backends.jax.scoring`), never in
the job's process. A task on a MuJoCo model names its env's own reward as a reward file: the job has it exported in
the sandbox and checks the module like a candidate's (:mod:`envs.backends.jax.own_reward`, ~3 s per job), and a file
that cannot be one fails the human baseline alone. Each arm may carry its own training seed (the final comparison's
fresh seeds). Its outputs are the SB3 jobs' outputs — per arm a ``TrainingResult``, a policy file and TensorBoard
event files at the paths the job spec names — plus a :class:`RoundStats` record (compile time apart from training
time), so evaluation, videos, critique and resume are the same for both backends.

With an :class:`~envs.backends.allocation.Allocation` the round's candidates train in segments and the
policy stops some between them (:func:`~envs.backends.jax.driver.train_round`); a stopped arm's result is
written like the others' (its policy as it stopped, ``steps_done`` short of the plan) and the decisions go
to :attr:`JaxRoundJob.allocation_file`. After every segment the job saves the round's state in
:attr:`JaxRoundJob.carry_file` (:mod:`envs.backends.jax.segments`): the same job started again after a kill
continues from its last finished segment, and removes the file once every result is written.
"""

from __future__ import annotations

import contextlib
import hashlib
import resource
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import TypeAdapter

from rewardsmith.core.atomic import write_json
from rewardsmith.envs.backends.allocation import Allocation
from rewardsmith.envs.backends.records import (
    Checkpoint,
    PolicyConfig,
    Progress,
    RewardKind,
    RoundStats,
    TrainingResult,
    TrainOutputs,
    TrainStatus,
)

if TYPE_CHECKING:
    from rewardsmith.envs.backends.jax.driver import RoundResult
    from rewardsmith.envs.backends.jax.envs import JaxEnv
    from rewardsmith.envs.tasks import Task


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
    seed: int | None = None
    """Its own training seed (the final comparison's fresh seeds); None = the job's :attr:`JaxRoundJob.seed`."""
    outputs: TrainOutputs


@dataclass(frozen=True, kw_only=True)
class JaxRoundJob:
    task_file: str
    arms: tuple[JaxArm, ...]
    steps: int
    seed: int
    """The training seed of every arm without its own (a round's arms share it: common random numbers)."""
    progress_file: str
    stats_file: str
    memory_mb: int | None = None
    """The job's address-space cap (``RLIMIT_AS``) on a CPU; None = none. Past it an allocation fails and the
    job ends with ``out of memory: …`` (exit 1: a crash, whose culprit the trainer then isolates)."""
    allocation: Allocation | None = None
    """Spread the budget over the candidate arms (None: every arm trains the full budget)."""
    allocation_file: str | None = None
    """Where the allocation's decisions are written (an :class:`~envs.backends.allocation.AllocationRecord`)."""
    carry_file: str | None = None
    """Where the round's state is saved after each segment, and continued from by a rerun (None: not saved)."""

    def fingerprint(self) -> str:
        """This job's identity for its saved segments: the spec and the bytes of its modules."""
        digest = hashlib.sha256(TypeAdapter(JaxRoundJob).dump_json(self))
        for arm in self.arms:
            if arm.module_file is not None and Path(arm.module_file).is_file():
                digest.update(Path(arm.module_file).read_bytes())
        return digest.hexdigest()


class OutOfMemory(Exception):
    """The round's program needed more memory than the job's cap (or the device) allows."""


def run_round(job: JaxRoundJob) -> RoundStats | None:
    """Check every module, train all arms in one program, and write each arm's results and policy.

    The executor bounds the job's wall time from outside: a round that runs past it is killed with
    every arm unwritten, so the trainer retrains the arms apart to find which one held it
    (:mod:`agent.train.isolation`); arms never end here with a shared ``timeout``. A module that its
    check refuses is that arm's own failure (``crashed``, the reason in its result) and the others train.
    Returns None when no arm was left to train.
    """
    import jax

    from rewardsmith.envs.backends.jax.driver import Arm, RoundConfig, train_round
    from rewardsmith.envs.backends.jax.metrics import jax_metric
    from rewardsmith.envs.backends.jax.ppo import PPOConfig
    from rewardsmith.envs.backends.jax.registry import make_task_env
    from rewardsmith.envs.backends.jax.scoring import FitnessChild
    from rewardsmith.envs.backends.jax.segments import SegmentFile
    from rewardsmith.envs.tasks import load_task_file
    from rewardsmith.sandboxes.jax.module_check import ModuleRejected, check_exported

    cap_memory(job.memory_mb, jax.default_backend())
    task = load_task_file(Path(job.task_file))
    env = make_task_env(task)
    own_refused = _give_own_reward(env, task)
    arms, specs = [], []
    for a in job.arms:
        if a.reward_kind == "env" and own_refused is not None:
            _write_result(a, job.steps, status="crashed", error=own_refused)
            continue
        if a.reward_kind != "candidate":
            arms.append(Arm(name=a.key, kind=a.reward_kind, seed=a.seed))
            specs.append(a)
            continue
        assert a.module_file is not None
        try:
            exported = check_exported(Path(a.module_file).read_bytes(), task.adapter.spec,
                                      task.adapter.spec.action.dim, a.components, tuple(a.constants))
        except ModuleRejected as rejected:
            _write_result(a, job.steps, status="crashed", error=f"its module was refused before training: {rejected}")
            continue
        arms.append(Arm(name=a.key, kind="candidate", reward=exported.call, params=dict(a.constants), seed=a.seed))
        specs.append(a)
    if not arms:
        return None
    progress = Path(job.progress_file)

    def report(done: int, total: int) -> None:
        write_json(progress, Progress(done, total))

    config = RoundConfig(steps=job.steps, n_envs=task.train.n_envs, seed=job.seed,
                         ppo=PPOConfig.from_task(task.train.ppo))
    segments = SegmentFile(Path(job.carry_file), job.fingerprint()) if job.carry_file is not None else None
    try:
        with contextlib.ExitStack() as stack:
            scorer = None
            if jax_metric(task.fitness_ref) is None:  # the task's own function: in its bounded child, never here
                scorer = stack.enter_context(FitnessChild(task.fitness_ref, task.source.parent, task.adapter.spec))
                scorer.start()  # it imports the function while the program compiles
            result = train_round(env, arms, config, task.fitness_ref, progress=report, scorer=scorer,
                                 allocation=job.allocation, segments=segments)
    except MemoryError as exc:
        raise OutOfMemory(_oom_message(job, str(exc))) from None
    except jax.errors.JaxRuntimeError as exc:
        if "RESOURCE_EXHAUSTED" not in str(exc):
            raise
        raise OutOfMemory(_oom_message(job, str(exc).splitlines()[0])) from None
    _write_arms(job, specs, result, env)
    if result.allocation is not None and job.allocation_file is not None:
        write_json(Path(job.allocation_file), result.allocation)
    stats = RoundStats(arms=len(result.arms), compile_s=result.compile_s, run_s=result.run_s,
                       env_steps=result.env_steps, steps_per_s=result.steps_per_s, platform=result.platform)
    write_json(Path(job.stats_file), stats)
    if segments is not None:
        segments.clear()
    return stats


def _give_own_reward(env: JaxEnv, task: Task) -> str | None:
    """Give a task on a model the module of its own reward file, exported in the sandbox like a candidate's
    (:mod:`envs.backends.jax.own_reward`); the one-line reason when the file cannot be one (the human baseline's
    own failure: the env's reward is NaN, and no arm trains on it). None: done, or nothing to give."""
    from rewardsmith.envs.backends.jax.model_rules import ModelRules
    from rewardsmith.envs.backends.jax.own_reward import OwnRewardRefused, export_own_reward

    rules = getattr(env, "rules", None)
    if not isinstance(rules, ModelRules) or rules.adapter.reward_file is None:
        return None
    try:
        rules.own_reward = export_own_reward(rules.adapter.reward_file, task.adapter.spec)
    except OwnRewardRefused as refused:
        return str(refused)
    return None


def cap_memory(memory_mb: int | None, platform: str) -> None:
    """Cap the job's address space at ``memory_mb`` (after jax's import: it is in the cap, but cannot fail on it).

    On a CPU only: a GPU runtime reserves address space by the terabyte without using it, and device memory
    is bounded by XLA's own allocator there (it fails an allocation with ``RESOURCE_EXHAUSTED``).
    """
    if memory_mb is None or platform != "cpu":
        return
    limit = memory_mb * 1024 * 1024
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    if hard != resource.RLIM_INFINITY:  # a lower cap from outside stays
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _oom_message(job: JaxRoundJob, error: str) -> str:
    cap = f"the job's {job.memory_mb} MiB memory cap" if job.memory_mb is not None else "the memory available"
    return f"the round's program of {len(job.arms)} arms needed more than {cap} ({error[:200]})"


def _write_arms(job: JaxRoundJob, specs: list[JaxArm], result: RoundResult, env: JaxEnv) -> None:
    """Each arm's policy, TensorBoard events and (last) its :class:`TrainingResult`."""
    from rewardsmith.envs.backends.jax.logs import write_events
    from rewardsmith.envs.backends.jax.policy import save_policy

    for spec, arm in zip(specs, result.arms, strict=True):
        policy = None
        if arm.status == "ok":
            save_policy(Path(spec.outputs.policy_file), arm.params, env.discrete, env.action_low, env.action_high)
            policy = PolicyConfig(use_sde=False, format="jax")
        write_events(Path(spec.outputs.log_dir), arm.checkpoints, arm.losses)
        _write_result(spec, job.steps, status=arm.status, error=arm.error, steps_done=arm.steps_done,
                      wall_s=result.compile_s + result.run_s, components=arm.components, checkpoints=arm.checkpoints,
                      policy=policy, nonfinite_steps=arm.nonfinite_steps, resumed_from_steps=arm.resumed_from_steps)


def _write_result(spec: JaxArm, planned: int, *, status: TrainStatus, error: str | None, steps_done: int = 0,
                  wall_s: float = 0.0, components: tuple[str, ...] = (), checkpoints: tuple[Checkpoint, ...] = (),
                  policy: PolicyConfig | None = None, nonfinite_steps: int = 0, resumed_from_steps: int = 0) -> None:
    write_json(Path(spec.outputs.metrics_file), TrainingResult(
        status=status, error=error, reward_kind=spec.reward_kind, steps_done=steps_done, steps_planned=planned,
        wall_s=wall_s, components=components, checkpoints=checkpoints, policy=policy,
        sandbox="jax.export module, checked" if spec.reward_kind == "candidate" else "",
        nonfinite_steps=nonfinite_steps, resumed_from_steps=resumed_from_steps))

"""The jax backend: every target of a training call in one compiled JAX program, each with its own policy.

Validation runs the numpy probe, then traces the reward with ``jax.numpy`` and exports it with
``jax.export`` inside the sandbox, checks the module in a checker child and compares its numbers with
numpy's (:mod:`sandboxes.jax.validate`); the checked module (``reward.jaxexport``) is the artifact the
trainer gets — it never runs candidate Python. A run keeps one export zygote and one module checker
(:meth:`JaxBackend.session`). A call's targets train in one ``jax_round`` job
(:mod:`envs.backends.jax.job`): a round's arms on the run's training seed (common random numbers), the
final comparison's each on its own fresh seed, in one program like a round's. The job's address space is
capped (:data:`JOB_MEMORY_MB`);
when it fails, the Trainer retrains its targets apart through :meth:`JaxBackend.batch_step` on parts of
the batch (:mod:`agent.train.isolation`), so one bad module never costs the others their results.

Where it is the faster one: everywhere it has the task. Classic control runs in the program; the MuJoCo
tasks and the tasks on a MuJoCo model step on native physics on a CPU (MuJoCo's C engine stepping every env
of the round at once on every core, the program doing the rest) and on MJX on a GPU
(:func:`envs.backends.jax.registry.task_physics`; a model MJX cannot run is refused in one line, and ``auto``
says so); docs/benchmarks.md has the measurements against SB3. A task with its own adapter class is refused:
the program computes the fields of the built-in adapters and of a model's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

from rewardsmith.agent.records.config import BackendName, RunConfig
from rewardsmith.agent.records.results import JaxModuleInfo
from rewardsmith.agent.records.train import Allocation
from rewardsmith.agent.rundir.store import CandidateFiles, RoundFiles, RunStore
from rewardsmith.agent.train.backends.base import Backend, CodeCheck
from rewardsmith.agent.train.executors.base import JobStep
from rewardsmith.agent.train.targets import Leg, TrainSettings
from rewardsmith.core.errors import ConfigError, RunStoreError
from rewardsmith.core.extras import JAX_MODULES, missing_modules, require_extra
from rewardsmith.envs.tasks import Task
from rewardsmith.sandboxes import allowlist
from rewardsmith.sandboxes.validate import ValidationReport

if TYPE_CHECKING:
    from rewardsmith.sandboxes.jax.export import ExportZygote
    from rewardsmith.sandboxes.jax.module_check import ModuleChecker

_OWN_ADAPTER = ("the task reads its state through its own adapter ({ref}), and the jax backend's environments "
                "compute the built-in adapters' fields and those derived from a MuJoCo model")

MAX_TUNE_BATCH = 8
"""Most trials of a tuning study trained in one program."""
JOB_MEMORY_MB = 8192
"""The round job's address-space cap (``RLIMIT_AS``) on a CPU. Measured peaks (2 cores): a CartPole round
takes 2.2 GiB of address space (0.8 GiB resident) with 4 arms and the same with 16; HalfCheetah on MJX
3.0 GiB (1.6 GiB resident) with its 2 baselines. 8 GiB leaves room for more threads on bigger machines
and larger envs, and stops a module that allocates without bound long before the machine's memory."""


@dataclass(frozen=True)
class JaxSession:
    """What a run's validations share: the export zygote and the module checker."""

    zygote: ExportZygote
    checker: ModuleChecker


class JaxBackend(Backend):
    name: ClassVar[BackendName] = "jax"
    trains_together: ClassVar[bool] = True
    allocation_mode: ClassVar[Literal["rungs", "program"] | None] = "program"
    prompt_rules: ClassVar[tuple[str, ...]] = (
        "The reward is traced with `jax.numpy` standing in for `np` and compiled, so: no in-place writes "
        "(write `x = np.where(mask, value, x)`, never `x[mask] = value`); no shapes that depend on values (no "
        "boolean-mask indexing, no `np.nonzero`); no Python `if`/`while` on arrays (use `np.where`); "
        f"{allowlist.JAX_LINALG_RULE}. It must compute the same as with numpy on every state.",
    )

    def __init__(self, job_memory_mb: int | None = JOB_MEMORY_MB) -> None:
        require_extra("jax", "--backend jax", *JAX_MODULES)
        self.job_memory_mb = job_memory_mb
        """The round job's address-space cap on a CPU (:data:`JOB_MEMORY_MB`; None = none)."""

    @staticmethod
    def installed() -> bool:
        return not missing_modules(*JAX_MODULES)

    def describe(self) -> str:
        from rewardsmith.envs.backends.jax.registry import PHYSICS_WORDS, platform_physics

        where = platform()
        return (f"all candidates of a round in one compiled program, on {where}; MuJoCo tasks on "
                f"{PHYSICS_WORDS[platform_physics(where)]}")

    def check(self, task: Task, config: RunConfig) -> None:
        from rewardsmith.envs.backends.jax.registry import jax_env_ids

        super().check(task, config)
        if task.model is None and task.env_id not in jax_env_ids():
            raise ConfigError(f"--backend jax: {task.env_id} has no JAX environment; the jax backend has: "
                              f"{', '.join(jax_env_ids())} and any task on a MuJoCo model (or use --backend sb3)")
        refusal = _refusal(task)
        if refusal is not None:
            raise ConfigError(f"--backend jax: {refusal} (use --backend sb3)")

    def auto_refusal(self, task: Task, config: RunConfig) -> str | None:
        """Why ``--backend auto`` does not pick this backend for ``task`` here; None when it does."""
        from rewardsmith.envs.backends.jax.registry import jax_env_ids

        if task.model is None and task.env_id not in jax_env_ids():
            return f"{task.env_id} has no JAX environment"
        return _refusal(task)

    def auto_reason(self, task: Task) -> str:
        """Why ``--backend auto`` picked this backend for ``task``, with the physics a MuJoCo task steps on."""
        from rewardsmith.envs.backends.jax.registry import PHYSICS_WORDS, task_physics

        where = platform()
        physics = task_physics(task, where)
        on = f" on {PHYSICS_WORDS[physics]}" if physics is not None else ""
        return f"{task.env_id} has a JAX environment{on}, and one program per round is the faster one on {where}"

    @contextlib.contextmanager
    def session(self, task: Task) -> Iterator[JaxSession]:
        """An export zygote and a module checker for ``task``, started here (they die with the thread that starts
        them, so not in a validation pool's thread) and stopped on exit."""
        from rewardsmith.sandboxes.jax.export import ExportZygote
        from rewardsmith.sandboxes.jax.module_check import ModuleChecker

        with ExportZygote(task.adapter.spec) as zygote, ModuleChecker() as checker:
            zygote.start()
            checker.start()
            yield JaxSession(zygote, checker)

    def validate(self, check: CodeCheck, session: object | None = None) -> ValidationReport:
        """The same checks as sb3, then the export in the sandbox and the module check; an accepted
        reward's module is kept in ``check.files``."""
        from rewardsmith.sandboxes.jax.validate import JaxValidation, validate_and_export_jax

        shared = session if isinstance(session, JaxSession) else None
        options = JaxValidation(allow_weak_isolation=check.allow_weak_sandbox, batch=check.task.train.n_envs,
                                checker=shared.checker if shared else None, zygote=shared.zygote if shared else None)
        sample = check.sample
        report, exported = validate_and_export_jax(check.code, check.task.adapter.spec, sample.states, sample.actions,
                                                   options)
        if exported is not None and check.store is not None and check.files is not None:
            check.store.save_jax_module(check.files, exported.blob, JaxModuleInfo(
                components=exported.components, constants=dict(exported.constants), export_ms=exported.export_ms,
                sandbox=exported.sandbox))
        return report

    def has_artifact(self, store: RunStore, files: CandidateFiles) -> bool:
        return store.load_jax_module_info(files) is not None

    def batch_step(self, task: Task, legs: list[Leg], settings: TrainSettings, store: RunStore,
                   batch: RoundFiles | None, allocation: Allocation | None = None) -> JobStep | None:
        """One ``jax_round`` job for every leg (one compiled program); each candidate by its checked module, each
        target on its own seed if it has one (the final comparison's), else on the run's. The program saves its
        state after every segment (a rerun of the job continues there) and, with ``allocation``, spreads the
        budget over the candidates between segments. Its wall-clock limit is one training's (``--train-timeout``,
        else the task's ``timeout_s``) per arm: what the same trainings one after another would be allowed (one
        training's limit is tight for a 9-arm final comparison of Hopper at 1M steps: 552 s of training at 16,330
        env-steps/s at load ~2, so twice as slow under load is past Hopper's 1,200 s)."""
        from rewardsmith.envs.backends.jax.job import JaxArm, JaxRoundJob

        assert batch is not None, "the jax backend trains a batch of targets: say where its files go"

        arms = []
        for leg in legs:
            t = leg.target
            module = t.artifact_files
            info = store.load_jax_module_info(module) if module is not None else None
            if t.reward_kind == "candidate" and info is None:
                raise RunStoreError(f"{t.files.dir}: no exported module for the jax backend; validate it with "
                                    "--backend jax")
            arms.append(JaxArm(key=t.key, reward_kind=t.reward_kind,
                               module_file=str(module.jax_module) if module is not None else None,
                               components=info.components if info else (), constants=info.constants if info else {},
                               seed=t.seed, outputs=leg.files.train_outputs()))
        job = JaxRoundJob(task_file=str(task.source), arms=tuple(arms), steps=settings.steps, seed=settings.seed,
                          progress_file=str(batch.jax_round("progress")), stats_file=str(batch.jax_round("stats")),
                          memory_mb=self.job_memory_mb, allocation=allocation,
                          allocation_file=str(batch.jax_round("allocation")) if allocation is not None else None,
                          carry_file=str(batch.jax_round("carry")))
        return JobStep(kind="jax_round", spec=job, spec_file=batch.jax_round("spec"), log_file=batch.jax_round("log"),
                       timeout_s=settings.timeout_s * len(arms), progress_file=batch.jax_round("progress"))

    def tune_batch(self, trials: int) -> int:
        return min(trials, MAX_TUNE_BATCH)


def _refusal(task: Task) -> str | None:
    """Why the jax backend cannot train a task it has an environment kind for: its own adapter class, or a model
    the platform's physics cannot run (MJX lacking a sensor); None when it can."""
    from rewardsmith.envs.backends.jax.registry import physics_refusal

    if task.adapter_ref is not None:
        return _OWN_ADAPTER.format(ref=task.adapter_ref)
    return physics_refusal(task, platform()) if task.model is not None else None


def platform() -> str:
    """The platform JAX runs on here (``cpu``, ``gpu``, …)."""
    import jax

    return str(jax.devices()[0].platform)

"""The run directory's layout: every path inside it, and candidate ids. Owned, with :mod:`agent.rundir.store`, by the store.

:class:`TargetFiles` (a trained target: a candidate or a baseline), :class:`CandidateFiles` (plus the
design stages' files), :class:`RoundFiles`, :class:`TuneFiles`, :class:`ExportFiles` only *name*
files; :class:`agent.rundir.store.RunStore` reads and writes them. Job specs are built here, so they carry
the output paths they write.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from rewardsmith.envs.backends.records import TrainOutputs
from rewardsmith.envs.evaluation import EvalJob
from rewardsmith.envs.video import VideoJob

_CID = re.compile(r"^r(\d{2,})c(\d{2,})$")


def candidate_id(rnd: int, index: int) -> str:
    """``rRRcKK``: a candidate's id from its round and its 1-based index in the round."""
    return f"r{rnd:02d}c{index:02d}"


def parse_candidate_id(cid: str) -> tuple[int, int] | None:
    """``(round, index)`` of a candidate id, or None if ``cid`` is not one."""
    match = _CID.match(cid)
    return (int(match.group(1)), int(match.group(2))) if match else None


@dataclass(frozen=True)
class TargetFiles:
    """Every file of one trained target: a candidate or a baseline."""

    dir: Path

    @property
    def reward(self) -> Path:
        return self.dir / "reward.py"

    @property
    def policy(self) -> Path:
        return self.dir / "policy.npz"

    @property
    def metrics(self) -> Path:
        return self.dir / "metrics.json"

    @property
    def progress(self) -> Path:
        return self.dir / "progress.json"

    @property
    def fitness(self) -> Path:
        return self.dir / "fitness.json"

    @property
    def rollouts(self) -> Path:
        """The evaluation episodes' state and action rows (written by the evaluation job)."""
        return self.dir / "rollouts.npz"

    @property
    def video(self) -> Path:
        return self.dir / "video.mp4"

    @property
    def video_result(self) -> Path:
        return self.dir / "video.json"

    @property
    def failures(self) -> Path:
        """Written by the orchestrator only: how job processes of this target died."""
        return self.dir / "failures.json"

    @property
    def log_dir(self) -> Path:
        """SB3's logger folder: its TensorBoard event files (``tensorboard --logdir RUN_DIR`` finds them)."""
        return self.dir / "sb3"

    @property
    def training_plot(self) -> Path:
        """Training curves (components, task fitness, episode length) as a PNG (``agent.report.plots``)."""
        return self.dir / "training.png"

    @property
    def checkpoint(self) -> Path:
        """A training's resumable state (policy + Adam, arrays only), kept at a successive-halving rung."""
        return self.dir / "checkpoint.npz"

    @property
    def early_stop(self) -> Path:
        """Written by the orchestrator only: the round's allocation stopped this candidate early."""
        return self.dir / "early_stop.json"

    @property
    def costs(self) -> Path:
        """Written by the orchestrator only: what each job of this target cost (env-steps, CPU-seconds)."""
        return self.dir / "costs.json"

    def rung(self, index: int) -> TargetFiles:
        """The files of one allocation rung below the full budget, trained as a job of its own: ``rung_N/``."""
        return TargetFiles(self.dir / f"rung_{index}")

    def resumable_outputs(self) -> TrainOutputs:
        """:meth:`train_outputs` plus the checkpoint a later rung resumes from."""
        return replace(self.train_outputs(), checkpoint_file=str(self.checkpoint))

    def job_spec(self, kind: str) -> Path:
        return self.dir / f"{kind}_job.json"

    def job_log(self, kind: str) -> Path:
        return self.dir / f"{kind}.log"

    def train_outputs(self) -> TrainOutputs:
        return TrainOutputs(policy_file=str(self.policy), metrics_file=str(self.metrics),
                            progress_file=str(self.progress), log_dir=str(self.log_dir))

    def eval_job(self, task_file: Path, selection: tuple[int, ...], heldout: tuple[int, ...]) -> EvalJob:
        return EvalJob(task_file=str(task_file), policy_file=str(self.policy), selection_seeds=selection,
                       heldout_seeds=heldout, out_file=str(self.fitness),
                       rollouts_file=str(self.rollouts), metrics_file=str(self.metrics))

    def video_job(self, task_file: Path, seeds: tuple[int, ...], label: str) -> VideoJob:
        return VideoJob(task_file=str(task_file), policy_file=str(self.policy), video_file=str(self.video),
                        result_file=str(self.video_result), seeds=seeds, label=label, metrics_file=str(self.metrics))


@dataclass(frozen=True)
class CandidateFiles(TargetFiles):
    """A candidate's files: what a target has, plus the design stages' outputs."""

    @property
    def prompt(self) -> Path:
        return self.dir / "prompt.md"

    @property
    def response(self) -> Path:
        return self.dir / "response.md"

    @property
    def candidate(self) -> Path:
        return self.dir / "candidate.json"

    @property
    def validation(self) -> Path:
        return self.dir / "validation.json"

    @property
    def jax_module(self) -> Path:
        """The candidate traced and exported with ``jax.export`` in the sandbox (untrusted bytes until checked)."""
        return self.dir / "reward.jaxexport"

    @property
    def jax_module_info(self) -> Path:
        return self.dir / "reward_jax.json"

    @property
    def critique_md(self) -> Path:
        return self.dir / "critique.md"

    @property
    def critique_json(self) -> Path:
        return self.dir / "critique.json"

    @property
    def screen(self) -> Path:
        """The pre-training screen's verdict (``agent.analyze.screen``)."""
        return self.dir / "screen.json"

    @property
    def critic(self) -> Path:
        """The vision-language critic's verdicts on this candidate's video (``agent.analyze.critic``)."""
        return self.dir / "critic.json"

    def critic_frame(self, index: int) -> Path:
        """A frame sent to the critic, as the JPEG it received: ``critic/frame_NN.jpg``."""
        return self.dir / "critic" / f"frame_{index:02d}.jpg"

    def attempt(self, n: int) -> CandidateFiles:
        """The copy of an earlier fix-retry attempt, ``attempt_N/``."""
        return CandidateFiles(self.dir / f"attempt_{n}")


@dataclass(frozen=True)
class RoundFiles:
    dir: Path

    @property
    def feedback(self) -> Path:
        return self.dir / "feedback.json"

    @property
    def review_request(self) -> Path:
        return self.dir / "review.json"

    @property
    def human(self) -> Path:
        return self.dir / "human.json"

    @property
    def stopped(self) -> Path:
        return self.dir / "stopped.json"

    @property
    def allocation(self) -> Path:
        """Written by the orchestrator only: the round's allocation and every decision it took (``agent.train.allocation``)."""
        return self.dir / "allocation.json"

    @property
    def parents(self) -> Path:
        """Which earlier candidates the round's prompt was built on, and why (``--selection``)."""
        return self.dir / "parents.json"

    def jax_round(self, name: str) -> Path:
        """The JAX backend's round job: ``jax_round_job.json``, ``jax_round.log``, ``jax_round_progress.json``,
        ``jax_round.json`` (compile and run time); written by the job: ``jax_round_carry.npz`` (the program's state
        after its last finished segment, which a rerun of the job continues from) and ``jax_round_allocation.json``
        (its allocation's decisions)."""
        return self.dir / {"spec": "jax_round_job.json", "log": "jax_round.log", "progress": "jax_round_progress.json",
                           "stats": "jax_round.json", "carry": "jax_round_carry.npz",
                           "allocation": "jax_round_allocation.json"}[name]

    @property
    def isolation(self) -> Path:
        """Written by the orchestrator only: the batch's one program failed, so its targets are retrained apart
        (:mod:`agent.train.isolation`); a resumed run goes on from here instead of running the whole batch again."""
        return self.dir / "isolation.json"

    def part(self, label: str) -> RoundFiles:
        """The job files of one part of a failed batch retrained apart: ``isolation/<label>/``."""
        return RoundFiles(self.dir / "isolation" / label)

    def edit_draft(self, cid: str) -> Path:
        """A terminal reviewer's working copy of a candidate's code (checked before it counts)."""
        return self.dir / "review" / f"edit_{cid}.py"


@dataclass(frozen=True)
class TuneFiles:
    """One tuning study of a reward's named constants (``rewardsmith tune``, ``--tune``): ``tune/<label>/``.

    The Optuna study lives in ``study.db`` (SQLite), so a tune killed mid-study resumes without
    redoing finished trials; each trial rung is a trained target of its own.
    """

    dir: Path

    @property
    def study(self) -> Path:
        return self.dir / "study.db"

    @property
    def source(self) -> Path:
        """The reward whose constants are tuned, as it was when the study started."""
        return self.dir / "source_reward.py"

    @property
    def result(self) -> Path:
        """The study's outcome (an :class:`agent.tune.tuner.TuneResult`)."""
        return self.dir / "tune.json"

    @property
    def tuned(self) -> Path:
        return self.dir / "tuned_reward.py"

    @property
    def diff(self) -> Path:
        return self.dir / "tuned.diff"

    @property
    def lock_file(self) -> Path:
        return self.dir / "tune.lock"

    def trial(self, key: str, rung: int) -> TargetFiles:
        """A trial's training at one rung of the successive-halving ladder (``key``: a hash of its constants)."""
        return TargetFiles(self.dir / f"trial_{key}" / f"rung_{rung}")

    def trial_module(self, key: str) -> CandidateFiles:
        """A trial's own folder: on the jax backend its reward with these constants, exported once for every rung."""
        return CandidateFiles(self.dir / f"trial_{key}")

    def batch(self, rung: int, keys: Sequence[str]) -> RoundFiles:
        """The jax backend's one program for a batch of trials at one rung (named by the trials it trains)."""
        digest = hashlib.sha256(" ".join(keys).encode()).hexdigest()[:10]
        return RoundFiles(self.dir / f"batch-{rung}-{digest}")


@dataclass(frozen=True)
class ExportFiles:
    """The folder ``rewardsmith export`` writes: ``RUN_DIR/export/`` unless ``--out`` names another."""

    dir: Path

    @property
    def reward(self) -> Path:
        return self.dir / "best_reward.py"

    @property
    def policy(self) -> Path:
        """The trained policy as a stable-baselines3 PPO model (``PPO.load``)."""
        return self.dir / "policy.zip"

    @property
    def readme(self) -> Path:
        return self.dir / "README.md"

    @property
    def fields(self) -> Path:
        """The task's state field table."""
        return self.dir / "fields.md"

    @property
    def manifest(self) -> Path:
        """What was exported, from which run (an :class:`agent.app.commands.export.ExportManifest`)."""
        return self.dir / "rewardsmith.json"

    @property
    def adapter(self) -> Path:
        """A copy of the task's custom state adapter module (only for tasks with ``adapter = "file.py:Class"``)."""
        return self.dir / "adapter.py"

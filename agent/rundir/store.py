"""The run directory: the source of truth of a run, and what ``resume``, ``review`` and the UI read.

This module and :mod:`agent.rundir.layout` (which names every path) are the directory's only owner: no
other module composes a path inside it. Layout
(DESIGN.md)::

    config.json  summary.json  best_reward.py  run.lock  responses/  critic_responses/
    fitness.png  final/<arm>/seed_N/  (the final comparison on fresh training seeds)
    round_NN/  feedback.json  review.json  human.json  stopped.json  curves.png  allocation.json
               jax_round*.json jax_round.log  jax_round_carry.npz (the program's last finished segment, while it runs)
               isolation.json isolation/<part>/  (a failed batch retrained apart)
    round_NN/cand_KK/  prompt.md response.md reward.py candidate.json validation.json
                       train_job.json train.log progress.json policy.npz metrics.json sb3/ training.png
                       eval_job.json eval.log fitness.json  video_job.json video.log video.mp4 video.json
                       rollouts.npz failures.json critique.md critique.json screen.json  attempt_N/
                       critic.json critic/frame_NN.jpg  (--critic: its verdicts, the frames it was sent)
                       early_stop.json rung_N/  (stopped by the round's allocation; its rungs, on SB3)
    baselines/{human,sparse}/  (the training files of a candidate)

Every file has one writer and is written atomically. Job processes write only the outputs their
job spec names (``metrics.json``, ``policy.npz``, ``fitness.json``, ``video.*``); how a job *died*
(timeout, crash) is recorded by the orchestrator in ``failures.json``, a file of its own. A stage
whose output file exists is never redone.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TypeVar

from rewardsmith.agent.records.config import RunRecord
from rewardsmith.agent.records.critic import CriticReport
from rewardsmith.agent.records.results import (
    BatchFailure,
    Candidate,
    CandidateResult,
    Critique,
    FailureLog,
    JaxModuleInfo,
    JobFailure,
    RoundFeedback,
    RunSummary,
    ScreenVerdict,
    StopRecord,
    TargetOutcome,
)
from rewardsmith.agent.records.review import HumanFeedback, ReviewRequest
from rewardsmith.agent.records.train import AllocationRecord, Compute, CostLog, EarlyStop, JobCost
from rewardsmith.agent.rundir.layout import (
    CandidateFiles,
    ExportFiles,
    RoundFiles,
    TargetFiles,
    TuneFiles,
    candidate_id,
    parse_candidate_id,
)
from rewardsmith.core.atomic import read_record, write_bytes, write_json, write_text
from rewardsmith.core.errors import ConfigError, RunStoreError
from rewardsmith.envs.backends.records import RoundStats, TrainingResult
from rewardsmith.envs.evaluation import EvaluationResult
from rewardsmith.envs.outcomes import Rollout, load_rollouts
from rewardsmith.envs.video import VideoResult
from rewardsmith.sandboxes.validate import ValidationReport

T = TypeVar("T")

__all__ = ["CandidateFiles", "ExportFiles", "RoundFiles", "RunLock", "RunStore", "TargetFiles", "TuneFiles",
           "candidate_id", "parse_candidate_id"]


@dataclass(frozen=True)
class RunStore:
    root: Path

    # -- paths ----------------------------------------------------------------------------------
    @property
    def config_file(self) -> Path:
        return self.root / "config.json"

    @property
    def exists(self) -> bool:
        """Whether ``root`` is a run directory (it has ``config.json``)."""
        return self.config_file.is_file()

    @classmethod
    def runs_in(cls, parent: Path) -> list[RunStore]:
        """The run directories directly under ``parent``, newest name first."""
        return [cls(p.parent) for p in sorted(parent.glob("*/config.json"), key=lambda p: p.parent.name, reverse=True)]

    def code_label(self, cid: str) -> str:
        """How a candidate's code file is named in diffs shown to people: ``r01c02/reward.py``."""
        return f"{cid}/reward.py"

    @property
    def summary_file(self) -> Path:
        return self.root / "summary.json"

    @property
    def best_reward_file(self) -> Path:
        return self.root / "best_reward.py"

    @property
    def responses_dir(self) -> Path:
        """The LLM designer's stored calls (owned by :class:`agent.design.llm.responses.ResponseStore`)."""
        return self.root / "responses"

    @property
    def critic_responses_dir(self) -> Path:
        """The critic's stored calls (a :class:`agent.design.llm.responses.ResponseStore` of its own, so its tokens
        are counted apart from the designer's)."""
        return self.root / "critic_responses"

    @property
    def lineage_file(self) -> Path:
        """The lineage archive of every candidate (an :class:`agent.design.lineage.Lineage`)."""
        return self.root / "lineage.json"

    def tune_files(self, label: str) -> TuneFiles:
        """A tuning study's folder, ``tune/<label>/`` (label: the tuned candidate's id, or ``reward``)."""
        return TuneFiles(self.root / "tune" / label)

    @property
    def fitness_plot(self) -> Path:
        """Fitness per round (every candidate, the selected best, the baselines) as a PNG (``agent.report.plots``)."""
        return self.root / "fitness.png"

    def round_plot(self, rnd: int) -> Path:
        """A round's candidates' training curves overlaid, as a PNG (``agent.report.plots``)."""
        return self.round_files(rnd).dir / "curves.png"

    def final_files(self, arm: str, seed: int) -> TargetFiles:
        """One training of the final comparison on a fresh seed (``agent.report.final``): ``final/<arm>/seed_N/``."""
        return TargetFiles(self.root / "final" / arm / f"seed_{seed}")

    def final_batch(self) -> RoundFiles:
        """The final comparison's batch job files (one program for all its trainings on the jax backend): ``final/``."""
        return RoundFiles(self.root / "final")

    def is_held(self) -> bool:
        """Whether a process holds ``run.lock`` now (a run, resume or review is working on the run).

        Read from the kernel's lock table (``/proc/locks``) without taking the lock, so a run that is
        starting is never turned away by a reader. False where the table cannot be read.
        """
        path = self.root / "run.lock"
        try:
            st = path.stat()
            table = Path("/proc/locks").read_text()
        except OSError:
            return False
        ident = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
        return any(len(f := line.split()) > 5 and f[1] == "FLOCK" and f[5] == ident for line in table.splitlines())

    def export_files(self, out: Path | None = None) -> ExportFiles:
        """Where ``rewardsmith export`` writes: ``out``, or ``export/`` inside the run directory."""
        return ExportFiles(out if out is not None else self.root / "export")

    def round_files(self, rnd: int) -> RoundFiles:
        return RoundFiles(self.root / f"round_{rnd:02d}")

    def files(self, rnd: int, index: int) -> CandidateFiles:
        return CandidateFiles(self.round_files(rnd).dir / f"cand_{index:02d}")

    def files_of(self, candidate: Candidate) -> CandidateFiles:
        return self.files(candidate.round, candidate.index)

    def baseline_files(self, kind: str) -> TargetFiles:
        return TargetFiles(self.root / "baselines" / kind)

    def rounds(self) -> list[int]:
        """The rounds that have a directory, in order."""
        return sorted(int(p.name[6:]) for p in self.root.glob("round_*") if p.name[6:].isdigit())

    # -- config ---------------------------------------------------------------------------------
    def save_record(self, record: RunRecord) -> None:
        write_json(self.config_file, record)

    def load_record(self) -> RunRecord:
        if not self.config_file.is_file():
            raise RunStoreError(f"{self.root} is not a RewardSmith run directory (no config.json)")
        try:
            return read_record(self.config_file, RunRecord)
        except ValueError as exc:
            raise RunStoreError(f"{self.config_file}: unreadable ({str(exc).splitlines()[0]})") from None

    def lock(self) -> RunLock:
        """Hold the run exclusively (``run``, ``resume`` and ``review`` take it): two processes never work on one run."""
        return RunLock(self.root / "run.lock")

    # -- candidates -----------------------------------------------------------------------------
    def save_sampled(self, candidate: Candidate, prompt_md: str, response: str) -> None:
        f = self.files_of(candidate)
        write_text(f.prompt, prompt_md)
        write_text(f.response, response)
        if candidate.code is not None:
            write_text(f.reward, candidate.code)
        write_json(f.candidate, candidate)

    def load_candidates(self, rnd: int, k: int) -> list[Candidate] | None:
        """The round's sampled candidates, or None unless all ``k`` were saved."""
        files = [self.files(rnd, i).candidate for i in range(1, k + 1)]
        if not all(f.is_file() for f in files):
            return None
        return [read_record(f, Candidate) for f in files]

    def has_candidate(self, rnd: int, index: int) -> bool:
        return self.files(rnd, index).candidate.is_file()

    def load_response(self, candidate: Candidate) -> str:
        return self.files_of(candidate).response.read_text(encoding="utf-8")

    def archive_attempt(self, candidate: Candidate) -> None:
        """Copy the candidate's current design files into ``attempt_N/`` (once)."""
        f = self.files_of(candidate)
        keep = f.attempt(candidate.attempts)
        if keep.validation.is_file():
            return
        for src, dst in ((f.prompt, keep.prompt), (f.response, keep.response), (f.reward, keep.reward),
                         (f.candidate, keep.candidate), (f.validation, keep.validation)):
            if src.is_file():
                write_bytes(dst, src.read_bytes())

    def clear_for_retry(self, candidate: Candidate) -> None:
        """Before a fix-retry's answer is saved: it may have no code, and it must be validated anew."""
        f = self.files_of(candidate)
        f.reward.unlink(missing_ok=True)
        f.validation.unlink(missing_ok=True)

    def save_jax_module(self, f: CandidateFiles, blob: bytes, info: JaxModuleInfo) -> None:
        """A reward's exported module (a candidate's, or a tuning trial's) and what its check found."""
        write_bytes(f.jax_module, blob)
        write_json(f.jax_module_info, info)

    def load_round_stats(self, batch: RoundFiles) -> RoundStats | None:
        """How the jax backend's program ran for a batch (compile and training time), if it finished."""
        return _maybe(batch.jax_round("stats"), RoundStats)

    def load_jax_module_info(self, candidate_files: CandidateFiles) -> JaxModuleInfo | None:
        if not candidate_files.jax_module.is_file():
            return None
        return _maybe(candidate_files.jax_module_info, JaxModuleInfo)

    def save_validation(self, candidate: Candidate, report: ValidationReport) -> None:
        write_json(self.files_of(candidate).validation, report)

    def load_validation(self, candidate: Candidate) -> ValidationReport | None:
        return _maybe(self.files_of(candidate).validation, ValidationReport)

    def save_critique(self, candidate: Candidate, critique: Critique) -> None:
        f = self.files_of(candidate)
        write_text(f.critique_md, critique.text)
        write_json(f.critique_json, critique)

    def load_result(self, candidate: Candidate) -> CandidateResult:
        f = self.files_of(candidate)
        validation = self.load_validation(candidate)
        if validation is None:
            raise RunStoreError(f"{f.dir}: candidate has no validation.json")
        outcome = self.stopped_outcome(f) or self.outcome(f)  # halving: the rung it stopped at
        return CandidateResult(candidate=candidate, validation=validation, training=outcome.training,
                               evaluation=outcome.evaluation, critique=_maybe(f.critique_json, Critique),
                               screen=_maybe(f.screen, ScreenVerdict), early_stop=outcome.early_stop)

    def load_result_by_id(self, cid: str) -> CandidateResult | None:
        """A candidate's result by id (``r01c02``); None if the run has no such candidate."""
        parsed = parse_candidate_id(cid)
        if parsed is None or not self.files(*parsed).candidate.is_file():
            return None
        return self.load_result(read_record(self.files(*parsed).candidate, Candidate))

    def round_results(self, rnd: int) -> list[CandidateResult]:
        """Every candidate of a round that has a verdict, in index order."""
        out = []
        for path in sorted(self.round_files(rnd).dir.glob("cand_*/candidate.json")):
            cand = read_record(path, Candidate)
            if self.files_of(cand).validation.is_file():
                out.append(self.load_result(cand))
        return out

    def video_of(self, candidate: Candidate) -> Path | None:
        path = self.files_of(candidate).video
        return path if path.is_file() else None

    # -- training targets -------------------------------------------------------------------------
    def outcome(self, files: TargetFiles) -> TargetOutcome:
        """What training, evaluation and the video produced for a target so far."""
        failures = {f.kind: f for f in self.load_failures(files)}
        training = _maybe(files.metrics, TrainingResult)
        if training is None and "train" in failures:
            training = failures["train"].as_training()
        video = _maybe(files.video_result, VideoResult)
        if video is None and "video" in failures:
            video = failures["video"].as_video()
        return TargetOutcome(training=training, evaluation=_maybe(files.fitness, EvaluationResult), video=video)

    def has_policy(self, files: TargetFiles) -> bool:
        return files.policy.is_file()

    def is_finished(self, files: TargetFiles) -> bool:
        """Evaluated, or trained without producing a policy (or died trying): nothing left to do."""
        if files.fitness.is_file():
            return True
        previous = self.outcome(files).training
        return previous is not None and not (previous.trained and self.has_policy(files))

    def load_failures(self, files: TargetFiles) -> tuple[JobFailure, ...]:
        log = _maybe(files.failures, FailureLog)
        return log.jobs if log is not None else ()

    def save_failures(self, files: TargetFiles, failures: tuple[JobFailure, ...]) -> None:
        """Record how job processes died (merged with earlier records of other steps)."""
        known = {f.kind: f for f in self.load_failures(files)}
        known.update({f.kind: f for f in failures})
        write_json(files.failures, FailureLog(tuple(known.values())))

    def save_batch_failure(self, batch: RoundFiles, failure: BatchFailure) -> None:
        write_json(batch.isolation, failure)

    def load_batch_failure(self, batch: RoundFiles) -> BatchFailure | None:
        """How a batch's one program failed, if it did (its targets are then retrained apart)."""
        return _maybe(batch.isolation, BatchFailure)

    def load_rollouts(self, files: TargetFiles) -> tuple[Rollout, ...]:
        """A target's stored evaluation rollouts; ``()`` when it has none (not evaluated, or an older run)."""
        if not files.rollouts.is_file():
            return ()
        try:
            return load_rollouts(files.rollouts)
        except (OSError, ValueError, KeyError) as exc:
            raise RunStoreError(f"{files.rollouts}: unreadable ({exc})") from None

    def save_critic(self, candidate: Candidate, report: CriticReport) -> None:
        write_json(self.files_of(candidate).critic, report)

    def load_critic(self, candidate: Candidate) -> CriticReport | None:
        return _maybe(self.files_of(candidate).critic, CriticReport)

    def save_critic_frame(self, candidate: Candidate, index: int, data: bytes) -> Path:
        """Write a frame sent to the critic; returns its path."""
        path = self.files_of(candidate).critic_frame(index)
        write_bytes(path, data)
        return path

    def save_screen(self, candidate: Candidate, verdict: ScreenVerdict) -> None:
        write_json(self.files_of(candidate).screen, verdict)

    def load_screen(self, candidate: Candidate) -> ScreenVerdict | None:
        return _maybe(self.files_of(candidate).screen, ScreenVerdict)

    # -- allocation and compute --------------------------------------------------------------------
    def save_allocation(self, rnd: int, record: AllocationRecord) -> None:
        write_json(self.round_files(rnd).allocation, record)

    def load_allocation(self, rnd: int) -> AllocationRecord | None:
        return _maybe(self.round_files(rnd).allocation, AllocationRecord)

    def load_program_allocation(self, batch: RoundFiles) -> AllocationRecord | None:
        """The decisions a batch's program took (the jax round job's own record), if it allocated."""
        return _maybe(batch.jax_round("allocation"), AllocationRecord)

    def save_early_stop(self, files: TargetFiles, stop: EarlyStop) -> None:
        write_json(files.early_stop, stop)

    def load_early_stop(self, files: TargetFiles) -> EarlyStop | None:
        return _maybe(files.early_stop, EarlyStop)

    def stopped_outcome(self, files: TargetFiles) -> TargetOutcome | None:
        """A candidate stopped by the round's allocation: its partial outcome (the rung's it stopped at, or its own
        when it stopped inside the round's program), else None."""
        stop = self.load_early_stop(files)
        if stop is None:
            return None
        return replace(self.outcome(files.rung(stop.rung) if stop.in_rung_folder else files), early_stop=stop)

    def add_costs(self, files: TargetFiles, costs: tuple[JobCost, ...]) -> None:
        if costs:
            write_json(files.costs, CostLog((*self.load_costs(files), *costs)))

    def load_costs(self, files: TargetFiles) -> tuple[JobCost, ...]:
        log = _maybe(files.costs, CostLog)
        return log.jobs if log is not None else ()

    def compute_of(self, files: TargetFiles) -> Compute:
        return Compute.of(self.load_costs(files))

    def round_compute(self, rnd: int) -> Compute:
        """Compute spent by every candidate of a round (allocation rungs included)."""
        total = Compute()
        for path in sorted(self.round_files(rnd).dir.glob("cand_*/")):
            total = total + self.compute_of(TargetFiles(path))
        return total

    def baselines_compute(self) -> Compute:
        total = Compute()
        for path in sorted((self.root / "baselines").glob("*/")):
            total = total + self.compute_of(TargetFiles(path))
        return total

    # -- rounds ---------------------------------------------------------------------------------
    def save_feedback(self, feedback: RoundFeedback) -> None:
        write_json(self.round_files(feedback.round).feedback, feedback)

    def load_feedback(self, rnd: int) -> RoundFeedback | None:
        return _maybe(self.round_files(rnd).feedback, RoundFeedback)

    def save_stop(self, stop: StopRecord) -> None:
        write_json(self.round_files(stop.round).stopped, stop)

    def save_review_request(self, request: ReviewRequest) -> None:
        write_json(self.round_files(request.round).review_request, request)

    def load_review_request(self, rnd: int) -> ReviewRequest | None:
        return _maybe(self.round_files(rnd).review_request, ReviewRequest)

    def save_human(self, feedback: HumanFeedback) -> None:
        write_json(self.round_files(feedback.round).human, feedback)

    def has_human(self, rnd: int) -> bool:
        return self.round_files(rnd).human.is_file()

    def load_human(self, rnd: int) -> HumanFeedback | None:
        path = self.round_files(rnd).human
        if not path.is_file():
            return None
        try:
            return read_record(path, HumanFeedback)
        except ValueError as exc:
            raise RunStoreError(f"{path}: malformed review ({str(exc).splitlines()[0]}); fix it or move it away "
                                "and review the round again") from None

    def paused_round(self) -> int | None:
        """The round that waits for review (has ``review.json`` but no ``human.json``), if any."""
        waiting = [r for r in self.rounds()
                   if self.round_files(r).review_request.is_file() and not self.has_human(r)]
        return waiting[-1] if waiting else None

    # -- the run's result -----------------------------------------------------------------------
    def save_summary(self, summary: RunSummary) -> None:
        write_json(self.summary_file, summary)

    def load_summary(self) -> RunSummary | None:
        return _maybe(self.summary_file, RunSummary)

    def save_best_reward(self, code: str) -> Path:
        write_text(self.best_reward_file, code)
        return self.best_reward_file


class RunLock:
    """An exclusive ``flock`` on ``run.lock``, held while a process works on the run.

    The kernel drops it when the holder dies (even by SIGKILL), so a killed run never stays locked.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] | None = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise ConfigError(f"{self.path.parent} is in use by {holder}; wait for it to finish "
                              "(or stop it) before running, resuming or reviewing this run") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}\n")
        fh.flush()
        self._fh = fh
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


def _maybe(path: Path, kind: type[T]) -> T | None:
    if not path.is_file():
        return None
    try:
        return read_record(path, kind)
    except ValueError as exc:
        raise RunStoreError(f"{path}: unreadable ({str(exc).splitlines()[0]})") from None

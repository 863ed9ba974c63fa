"""The run directory: the source of truth of a run, and what ``resume``, ``review`` and the UI read.

Layout (DESIGN.md): ``config.json``, ``round_NN/cand_KK/{prompt.md, response.md, reward.py,
validation.json, metrics.json, fitness.json, critique.md}``, ``round_NN/feedback.json``,
``baselines/{human,sparse}/``, ``summary.json``, ``best_reward.py``. Every file is written
atomically; a stage whose output file exists is never redone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from agent.config import RunRecord
from agent.records import Candidate, CandidateResult, Critique, RoundFeedback, RunSummary
from core.atomic import read_record, write_json, write_text
from core.errors import RunStoreError
from envs.evaluation import FITNESS_FILE, EvaluationResult
from envs.training import METRICS_FILE, POLICY_FILE, TrainingResult
from sandboxes.validate import ValidationReport

T = TypeVar("T")


@dataclass(frozen=True)
class RunStore:
    root: Path

    # -- paths ----------------------------------------------------------------------------------
    @property
    def config_file(self) -> Path:
        return self.root / "config.json"

    def round_dir(self, rnd: int) -> Path:
        return self.root / f"round_{rnd:02d}"

    def cand_dir(self, rnd: int, index: int) -> Path:
        return self.round_dir(rnd) / f"cand_{index:02d}"

    def baseline_dir(self, kind: str) -> Path:
        return self.root / "baselines" / kind

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

    # -- candidates -----------------------------------------------------------------------------
    def save_sampled(self, candidate: Candidate, prompt_md: str, response: str) -> None:
        d = self.cand_dir(candidate.round, candidate.index)
        write_text(d / "prompt.md", prompt_md)
        write_text(d / "response.md", response)
        if candidate.code is not None:
            write_text(d / "reward.py", candidate.code)
        write_json(d / "candidate.json", candidate)

    def load_candidates(self, rnd: int, k: int) -> list[Candidate] | None:
        """The round's sampled candidates, or None unless all ``k`` were saved."""
        files = [self.cand_dir(rnd, i) / "candidate.json" for i in range(1, k + 1)]
        if not all(f.is_file() for f in files):
            return None
        return [read_record(f, Candidate) for f in files]

    def save_validation(self, candidate: Candidate, report: ValidationReport) -> None:
        write_json(self.cand_dir(candidate.round, candidate.index) / "validation.json", report)

    def load_validation(self, candidate: Candidate) -> ValidationReport | None:
        return _maybe(self.cand_dir(candidate.round, candidate.index) / "validation.json", ValidationReport)

    def save_critique(self, candidate: Candidate, critique: Critique) -> None:
        d = self.cand_dir(candidate.round, candidate.index)
        write_text(d / "critique.md", critique.text)
        write_json(d / "critique.json", critique)

    def load_result(self, candidate: Candidate) -> CandidateResult:
        d = self.cand_dir(candidate.round, candidate.index)
        validation = self.load_validation(candidate)
        if validation is None:
            raise RunStoreError(f"{d}: candidate has no validation.json")
        return CandidateResult(candidate, validation, training_result(d), evaluation_result(d),
                               _maybe(d / "critique.json", Critique))

    # -- rounds ---------------------------------------------------------------------------------
    def save_feedback(self, feedback: RoundFeedback) -> None:
        write_json(self.round_dir(feedback.round) / "feedback.json", feedback)

    def load_feedback(self, rnd: int) -> RoundFeedback | None:
        return _maybe(self.round_dir(rnd) / "feedback.json", RoundFeedback)

    def save_summary(self, summary: RunSummary) -> None:
        write_json(self.root / "summary.json", summary)

    def load_summary(self) -> RunSummary | None:
        return _maybe(self.root / "summary.json", RunSummary)


def training_result(job_dir: Path) -> TrainingResult | None:
    return _maybe(job_dir / METRICS_FILE, TrainingResult)


def evaluation_result(job_dir: Path) -> EvaluationResult | None:
    return _maybe(job_dir / FITNESS_FILE, EvaluationResult)


def has_policy(job_dir: Path) -> bool:
    return (job_dir / POLICY_FILE).is_file()


def _maybe(path: Path, kind: type[T]) -> T | None:
    if not path.is_file():
        return None
    try:
        return read_record(path, kind)
    except ValueError as exc:
        raise RunStoreError(f"{path}: unreadable ({str(exc).splitlines()[0]})") from None

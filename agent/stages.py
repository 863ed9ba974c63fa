"""The loop's stages that are more than one call: sampling with extraction, validation with fix-retry, analysis.

Each function reads what is already in the run store and does only the missing work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from agent.analyze import critique
from agent.designers import Designer, DesignRequest, FixingDesigner
from agent.extract import ExtractionError, extract_reward
from agent.human import HumanFeedback, check_constraints
from agent.prompting import fix_messages, to_markdown
from agent.records import Candidate, CandidateResult, Completion, Usage
from agent.responses import ResponseStore
from agent.store import RunStore
from core.atomic import write_bytes, write_json
from core.errors import DesignerStopped
from envs.evaluation import EvaluationResult
from envs.rollout import StateSample
from envs.tasks import Task
from envs.training import TrainingResult
from sandboxes.validate import ValidationReport, validate_source


def sample_round(designer: Designer, request: DesignRequest, store: RunStore) -> list[Candidate]:
    """Ask the designer for the round's K candidates (unless already sampled) and extract their code.

    A response without usable code gets its ``extract``-stage validation report right away.
    """
    cached = store.load_candidates(request.round, request.k)
    if cached is not None:
        return cached
    completions = designer.propose(request)
    prompt_md = to_markdown(list(request.messages))
    candidates = []
    for index, completion in enumerate(completions, 1):
        cand = Candidate(f"r{request.round:02d}c{index:02d}", request.round, index, None, completion.designer,
                         completion.parent, usage=completion.usage)
        candidates.append(_save_answer(store, cand, completion.text, prompt_md))
    return candidates


def _save_answer(store: RunStore, cand: Candidate, text: str, prompt_md: str) -> Candidate:
    """Extract the code of one answer and save it; an answer without usable code gets its report at once."""
    try:
        code: str | None = extract_reward(text).code
        failure = None
    except ExtractionError as err:
        code, failure = None, ValidationReport(False, "extract", err.kind, err.message)
    cand = replace(cand, code=code)
    store.save_sampled(cand, prompt_md, text)
    if failure is not None:
        store.save_validation(cand, failure)
    return cand


def validate_and_fix(designer: Designer, request: DesignRequest, candidate: Candidate, task: Task,
                     sample: StateSample, store: RunStore, max_fixes: int, human: HumanFeedback | None = None,
                     progress: Callable[[str, str], None] | None = None) -> tuple[Candidate, ValidationReport]:
    """Validate; while rejected, send the designer's own candidate back with the exact problem (at most ``max_fixes`` times).

    Only designers that can fix (:class:`FixingDesigner`) get it back, and only their own candidates (not a
    reviewer's edit). Every attempt is kept in ``cand_KK/attempt_N/``; the candidate's directory holds the latest.
    """
    report = validate(candidate, task, sample, store, human)
    fixable = isinstance(designer, FixingDesigner) and candidate.index <= request.k
    while not report.accepted and fixable and candidate.attempts <= max_fixes:
        assert isinstance(designer, FixingDesigner)
        _keep_attempt(store, candidate)
        d = store.cand_dir(candidate.round, candidate.index)
        response = (d / "response.md").read_text(encoding="utf-8")
        messages = fix_messages(list(request.messages), response, report.stage, report.message, candidate.code)
        if progress is not None:
            progress(candidate.id, f"fixing (attempt {candidate.attempts + 1})")
        completion = designer.fix(request, candidate.index, candidate.attempts + 1, tuple(messages))
        if completion is None:
            break
        candidate = _next_attempt(store, candidate, completion, to_markdown(messages))
        report = validate(candidate, task, sample, store, human)
    if candidate.attempts > 1:
        _keep_attempt(store, candidate)
    return candidate, report


def _keep_attempt(store: RunStore, candidate: Candidate) -> None:
    """Copy the candidate's current files into ``attempt_N/`` (once)."""
    d = store.cand_dir(candidate.round, candidate.index)
    keep = d / f"attempt_{candidate.attempts}"
    if (keep / "validation.json").is_file():
        return
    for name in ("prompt.md", "response.md", "reward.py", "candidate.json", "validation.json"):
        if (d / name).is_file():
            write_bytes(keep / name, (d / name).read_bytes())


def _next_attempt(store: RunStore, candidate: Candidate, completion: Completion, prompt_md: str) -> Candidate:
    d = store.cand_dir(candidate.round, candidate.index)
    for stale in ("reward.py", "validation.json"):  # the new answer may have no code, and must be validated
        (d / stale).unlink(missing_ok=True)
    cand = replace(candidate, attempts=candidate.attempts + 1, usage=candidate.usage + completion.usage)
    return _save_answer(store, cand, completion.text, prompt_md)


def record_stop(store: RunStore, rnd: int, stop: DesignerStopped) -> str:
    """Keep why the designer stopped in ``round_NN/stopped.json``; returns the one-line reason."""
    reason = str(stop)
    write_json(store.round_dir(rnd) / "stopped.json",
               {"round": rnd, "kind": type(stop).__name__, "reason": reason,
                "at": datetime.now(UTC).isoformat(timespec="seconds")})
    return reason


def llm_usage(store: RunStore) -> Usage:
    """Every LLM call the run paid for so far (zero for designers without an LLM)."""
    return ResponseStore.for_run(store.root).total()


def validate(candidate: Candidate, task: Task, sample: StateSample, store: RunStore,
             human: HumanFeedback | None = None) -> ValidationReport:
    """The sandbox's verdict for one candidate (cached in ``validation.json``).

    With a reviewer's constraints in force (``human``), a reward that drops a locked component or
    keeps a forbidden one is rejected with a message that says so (it goes back to the designer).
    """
    cached = store.load_validation(candidate)
    if cached is not None:
        return cached
    assert candidate.code is not None, "candidates without code get their report when sampled"
    report = validate_source(candidate.code, task.adapter.spec, sample.states, sample.actions)
    problem = check_constraints(report.components, human.locked, human.forbidden) if human else None
    if report.accepted and problem is not None:
        report = replace(report, accepted=False, reason="reviewer_constraint", message=problem)
    store.save_validation(candidate, report)
    return report


def analyze(result: CandidateResult, store: RunStore) -> CandidateResult:
    """Attach (and store) the candidate's critique."""
    crit = critique(result)
    store.save_critique(result.candidate, crit)
    return CandidateResult(result.candidate, result.validation, result.training, result.evaluation, crit)


def with_training(result: CandidateResult, outcome: tuple[TrainingResult | None, EvaluationResult | None]
                  ) -> CandidateResult:
    training, evaluation = outcome
    return CandidateResult(result.candidate, result.validation, training, evaluation)

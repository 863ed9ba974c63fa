"""The loop's stages that are more than one call: sampling with extraction, validation, analysis.

Each function reads what is already in the run store and does only the missing work.
"""

from __future__ import annotations

from dataclasses import replace

from agent.analyze import critique
from agent.designers import Designer, DesignRequest
from agent.extract import ExtractionError, extract_reward
from agent.human import HumanFeedback, check_constraints
from agent.prompting import to_markdown
from agent.records import Candidate, CandidateResult
from agent.store import RunStore
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
        cid = f"r{request.round:02d}c{index:02d}"
        try:
            code: str | None = extract_reward(completion.text).code
            failure = None
        except ExtractionError as err:
            code, failure = None, ValidationReport(False, "extract", err.kind, err.message)
        cand = Candidate(cid, request.round, index, code, completion.designer, completion.parent)
        store.save_sampled(cand, prompt_md, completion.text)
        if failure is not None:
            store.save_validation(cand, failure)
        candidates.append(cand)
    return candidates


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

"""The loop's stages that are more than one call: sampling with extraction, validation with fix-retry, analysis.

Each function reads what is already in the run store and does only the missing work.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from rewardsmith.agent.analyze import critique
from rewardsmith.agent.designers import Designer, DesignRequest, FixingDesigner
from rewardsmith.agent.extract import ExtractionError, extract_reward
from rewardsmith.agent.human import HumanFeedback, check_constraints
from rewardsmith.agent.prompting import fix_messages, to_markdown
from rewardsmith.agent.records import Candidate, CandidateResult, JaxModuleInfo, StopRecord, TargetOutcome, Usage
from rewardsmith.agent.responses import ResponseStore
from rewardsmith.agent.store import CandidateFiles, RunStore, candidate_id
from rewardsmith.core.errors import DesignerStopped
from rewardsmith.core.state import StateSpec
from rewardsmith.core.text import printable
from rewardsmith.envs.rollout import StateSample
from rewardsmith.envs.tasks import Task
from rewardsmith.sandboxes.validate import ValidationReport, validate_source

if TYPE_CHECKING:
    from rewardsmith.envs.jaxtrain.check import ModuleChecker
    from rewardsmith.sandboxes.jax_export import ExportZygote


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
        cand = Candidate(id=candidate_id(request.round, index), round=request.round, index=index, code=None,
                         origin=completion.designer, parent=completion.parent, usage=completion.usage)
        candidates.append(_save_answer(store, cand, completion.text, prompt_md))
    return candidates


def _save_answer(store: RunStore, cand: Candidate, text: str, prompt_md: str) -> Candidate:
    """Extract the code of one answer and save it; an answer without usable code gets its report at once."""
    try:
        code: str | None = extract_reward(text).code
        failure = None
    except ExtractionError as err:
        code, failure = None, ValidationReport(accepted=False, stage="extract", reason=err.kind, message=printable(err.message))
    cand = replace(cand, code=code)
    store.save_sampled(cand, prompt_md, text)
    if failure is not None:
        store.save_validation(cand, failure)
    return cand


@dataclass(frozen=True, kw_only=True)
class Validation:
    """What validating a round's candidates needs besides the candidates themselves."""

    task: Task
    sample: StateSample
    """Recorded states the probe runs each candidate on."""
    store: RunStore
    max_fixes: int
    """Fix-retries per candidate for designers that fix (``--fix-attempts``)."""
    human: HumanFeedback | None = None
    """A reviewer's constraints in force (locked / forbidden components)."""
    allow_weak_sandbox: bool = False
    """Validate even below full isolation (``--allow-weak-sandbox``)."""
    backend: Literal["sb3", "jax"] = "sb3"
    """With ``jax`` an accepted candidate is also traced and exported in the sandbox, and the module checked."""
    parallel: int = 1
    """Candidates validated at once (``--workers``)."""
    export: JaxExport | None = None
    """The jax backend's export zygote and module checker, shared by the run's candidates (without them
    :func:`validate_all` starts a pair for the round)."""
    progress: Callable[..., None] | None = None
    """Told ``(candidate id, state, note=...)`` as validation goes (e.g. :meth:`ProgressView.update`)."""


def validate_all(designer: Designer, request: DesignRequest, candidates: list[Candidate], ctx: Validation
                 ) -> list[CandidateResult]:
    """Validate (and fix) every candidate of the round; each result holds its final verdict.

    Candidates are validated ``ctx.parallel`` at a time (each in its own sandbox processes); the
    results keep the candidates' order, and each candidate's files are its own.
    """

    def one(cand: Candidate) -> CandidateResult:
        _tell(ctx, cand.id, "validating")
        cand, report = validate_and_fix(designer, request, cand, ctx)
        _tell(ctx, cand.id, "queued" if report.accepted else "rejected",
              "" if report.accepted else report.message.splitlines()[0] if report.message else report.reason)
        return CandidateResult(candidate=cand, validation=report)

    with contextlib.ExitStack() as stack:
        if ctx.export is None:  # jax: one zygote and one checker for the round, not one per module
            ctx = replace(ctx, export=stack.enter_context(jax_export_helpers(ctx.task, ctx.backend)))
        # A designer that fixes calls its model during validation: its calls and budget checks stay sequential.
        if ctx.parallel <= 1 or len(candidates) <= 1 or isinstance(designer, FixingDesigner):
            return [one(c) for c in candidates]
        with ThreadPoolExecutor(max_workers=ctx.parallel, thread_name_prefix="validate") as pool:
            return list(pool.map(one, candidates))


def validate_and_fix(designer: Designer, request: DesignRequest, candidate: Candidate, ctx: Validation
                     ) -> tuple[Candidate, ValidationReport]:
    """Validate; while rejected, send the designer's own candidate back with the exact problem (at most ``max_fixes`` times).

    Only designers that can fix (:class:`FixingDesigner`) get it back, and only their own candidates (not a
    reviewer's edit). Every attempt is kept in ``cand_KK/attempt_N/``; the candidate's directory holds the latest.
    """
    store = ctx.store
    report = validate(candidate, ctx)
    fixable = isinstance(designer, FixingDesigner) and candidate.index <= request.k
    while not report.accepted and fixable and candidate.attempts <= ctx.max_fixes:
        assert isinstance(designer, FixingDesigner)
        store.archive_attempt(candidate)
        messages = fix_messages(list(request.messages), store.load_response(candidate), report.stage,
                                report.message, candidate.code)
        _tell(ctx, candidate.id, f"fixing (attempt {candidate.attempts + 1})")
        completion = designer.fix(request, candidate.index, candidate.attempts + 1, tuple(messages))
        if completion is None:
            break
        store.clear_for_retry(candidate)
        candidate = replace(candidate, attempts=candidate.attempts + 1, usage=candidate.usage + completion.usage)
        candidate = _save_answer(store, candidate, completion.text, to_markdown(messages))
        report = validate(candidate, ctx)
    if candidate.attempts > 1:
        store.archive_attempt(candidate)
    return candidate, report


def _tell(ctx: Validation, cid: str, state: str, note: str = "") -> None:
    if ctx.progress is not None:
        ctx.progress(cid, state, note=note)


def record_stop(store: RunStore, rnd: int, stop: DesignerStopped) -> str:
    """Keep why the designer stopped in ``round_NN/stopped.json``; returns the one-line reason."""
    reason = str(stop)
    store.save_stop(StopRecord(round=rnd, kind=type(stop).__name__, reason=reason,
                               at=datetime.now(UTC).isoformat(timespec="seconds")))
    return reason


def llm_usage(store: RunStore) -> Usage:
    """Every LLM call the run paid for so far (zero for designers without an LLM)."""
    return ResponseStore.for_run(store.root).total()


def validate(candidate: Candidate, ctx: Validation) -> ValidationReport:
    """The sandbox's verdict for one candidate (cached in ``validation.json``).

    With a reviewer's constraints in force (``ctx.human``), a reward that drops a locked component or
    keeps a forbidden one is rejected with a message that says so (it goes back to the designer).
    """
    cached = ctx.store.load_validation(candidate)
    needs_module = ctx.backend == "jax" and ctx.store.load_jax_module_info(ctx.store.files_of(candidate)) is None
    if cached is not None and not (cached.accepted and needs_module):
        return cached
    assert candidate.code is not None, "candidates without code get their report when sampled"
    if ctx.backend == "jax":
        report = _probe_and_export(ctx, candidate)
    else:
        report = probe(ctx.task, candidate.code, ctx.sample, ctx.allow_weak_sandbox)
    human = ctx.human
    problem = check_constraints(report.components, human.locked, human.forbidden) if human else None
    if report.accepted and problem is not None:
        report = replace(report, accepted=False, reason="reviewer_constraint", message=problem)
    ctx.store.save_validation(candidate, report)
    return report


def _probe_and_export(ctx: Validation, candidate: Candidate) -> ValidationReport:
    """The jax backend's verdict: the same checks, then the export in the sandbox and the module check."""
    assert candidate.code is not None
    return export_jax(ctx.task, candidate.code, ctx.sample, ctx.store, ctx.store.files_of(candidate),
                      ctx.allow_weak_sandbox, ctx.export)


@dataclass(frozen=True)
class JaxExport:
    """What several jax-backend validations share: the export zygote and the module checker."""

    zygote: ExportZygote
    checker: ModuleChecker


@contextlib.contextmanager
def jax_export_helpers(task: Task, backend: Literal["sb3", "jax"]) -> Iterator[JaxExport | None]:
    """On the jax backend, an export zygote and a module checker for ``task``, started here (they die with
    the thread that starts them, so not in a validation pool's thread) and stopped on exit; None on
    another backend."""
    if backend != "jax":
        yield None
        return
    from rewardsmith.envs.jaxtrain.check import ModuleChecker
    from rewardsmith.sandboxes.jax_export import ExportZygote

    with ExportZygote(task.adapter.spec) as zygote, ModuleChecker() as checker:
        zygote.start()
        checker.start()
        yield JaxExport(zygote, checker)


def export_jax(task: Task, code: str, sample: StateSample, store: RunStore, files: CandidateFiles,
               allow_weak_sandbox: bool = False, shared: JaxExport | None = None) -> ValidationReport:
    """Validate ``code`` for the jax backend and, when accepted, keep its checked module in ``files``
    (``shared``: a zygote and checker shared with other validations; None = fresh processes)."""
    from rewardsmith.envs.jaxtrain.check import JaxValidation, validate_and_export_jax

    options = JaxValidation(allow_weak_isolation=allow_weak_sandbox, checker=shared.checker if shared else None,
                            zygote=shared.zygote if shared else None)
    report, exported = validate_and_export_jax(code, task.adapter.spec, sample.states, sample.actions, options)
    if exported is not None:
        store.save_jax_module(files, exported.blob, JaxModuleInfo(
            components=exported.components, constants=dict(exported.constants), export_ms=exported.export_ms,
            sandbox=exported.sandbox))
    return report


def probe(task: Task, code: str, sample: StateSample, allow_weak_sandbox: bool = False) -> ValidationReport:
    """The sandbox's verdict on reward code for a task: static checks, then a probe run on ``sample``.

    The one way reward code is validated: the loop, ``rewardsmith validate``, ``evaluate`` and a
    reviewer's edit all come here.
    """
    return validate_source(code, task.adapter.spec, sample.states, sample.actions,
                           allow_weak_isolation=allow_weak_sandbox)


def analyze(result: CandidateResult, store: RunStore, spec: StateSpec) -> CandidateResult:
    """Attach (and store) the candidate's critique (``spec``: the task's fields, for the failure causes)."""
    crit = critique(result, spec, result.screen)
    store.save_critique(result.candidate, crit)
    return replace(result, critique=crit)


def with_outcome(result: CandidateResult, outcome: TargetOutcome | None) -> CandidateResult:
    """The candidate's result with what training and evaluation produced (nothing if it was not trained)."""
    if outcome is None:
        return result
    return replace(result, training=outcome.training, evaluation=outcome.evaluation, early_stop=outcome.early_stop)

"""From the designer's answers to validated candidates: sampling with extraction, validation with fix-retry.

Each function reads what is already in the run store and does only the missing work. Validation
is the run's backend's (:meth:`agent.train.backends.Backend.validate`): the sandbox's probe, and on
the jax backend the export and module check too; a rejected candidate goes back to a designer that
can fix it, with the exact problem.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from rewardsmith.agent.design.designers import Designer, DesignRequest, FixingDesigner
from rewardsmith.agent.design.extract import ExtractionError, extract_reward
from rewardsmith.agent.design.prompting import fix_messages, to_markdown
from rewardsmith.agent.records.results import Candidate, CandidateResult
from rewardsmith.agent.records.review import HumanFeedback, LockedComponent
from rewardsmith.agent.rundir.store import RunStore, candidate_id
from rewardsmith.agent.train.backends import Backend, CodeCheck, SB3Backend
from rewardsmith.core.text import printable
from rewardsmith.envs.rollout import StateSample
from rewardsmith.envs.tasks import Task
from rewardsmith.sandboxes.validate import ValidationReport


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
    backend: Backend = field(default_factory=SB3Backend)
    """Whose validation: the jax backend also exports an accepted candidate in the sandbox and checks the module."""
    session: object | None = None
    """The backend's session shared by the run's candidates (:meth:`Backend.session`); None = one for the round
    (started by :func:`validate_all`)."""
    parallel: int = 1
    """Candidates validated at once (``--workers``)."""
    progress: Callable[..., None] | None = None
    """Told ``(candidate id, state, note=...)`` as validation goes (e.g. :meth:`agent.display.ProgressView.update`)."""


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
        if ctx.session is None:  # one session for the round (jax: zygote + checker), started in this thread
            ctx = replace(ctx, session=stack.enter_context(ctx.backend.session(ctx.task)))
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


def validate(candidate: Candidate, ctx: Validation) -> ValidationReport:
    """The sandbox's verdict for one candidate (cached in ``validation.json``).

    An accepted verdict without the backend's artifact (a run continued on another backend) is redone.
    With a reviewer's constraints in force (``ctx.human``), a reward that drops a locked component or
    keeps a forbidden one is rejected with a message that says so (it goes back to the designer).
    """
    store = ctx.store
    files = store.files_of(candidate)
    cached = store.load_validation(candidate)
    if cached is not None and not (cached.accepted and not ctx.backend.has_artifact(store, files)):
        return cached
    assert candidate.code is not None, "candidates without code get their report when sampled"
    report = ctx.backend.validate(CodeCheck(task=ctx.task, code=candidate.code, sample=ctx.sample, store=store,
                                            files=files, allow_weak_sandbox=ctx.allow_weak_sandbox), ctx.session)
    human = ctx.human
    problem = check_constraints(report.components, human.locked, human.forbidden) if human else None
    if report.accepted and problem is not None:
        report = replace(report, accepted=False, reason="reviewer_constraint", message=problem)
    store.save_validation(candidate, report)
    return report


def probe(task: Task, code: str, sample: StateSample, allow_weak_sandbox: bool = False) -> ValidationReport:
    """The sandbox's verdict on reward code for a task: static checks, then a probe run on ``sample``.

    What a reviewer's edit, ``rewardsmith evaluate`` and ``tune`` check a reward file with before it is
    trained (the numpy probe; a run's candidates are validated by the run's backend, :func:`validate`).
    """
    return SB3Backend().validate(CodeCheck(task=task, code=code, sample=sample, allow_weak_sandbox=allow_weak_sandbox))


def check_constraints(components: tuple[str, ...], locked: tuple[LockedComponent, ...],
                      forbidden: tuple[str, ...]) -> str | None:
    """The message for a candidate that drops a locked component or keeps a forbidden one; None if fine."""
    problems = []
    dropped = [lc for lc in locked if lc.name not in components]
    if dropped:
        problems.append("the reviewer locked these components and the reward must keep them, in this form: "
                        + "; ".join(f"`{lc.name}` = {lc.form or '(as in ' + lc.source + ')'}" for lc in dropped)
                        + f". This reward returns {', '.join(components) or 'no components'}")
    banned = [name for name in forbidden if name in components]
    if banned:
        problems.append(f"the reviewer forbade the components {', '.join(f'`{n}`' for n in banned)}; remove them")
    if not problems:
        return None
    return "Rejected by the reviewer's constraints: " + "; ".join(problems) + "."

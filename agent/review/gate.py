"""The review gate: after a round is evaluated, a person (or the preference oracle) reviews it.

With ``--review cli|web|oracle`` the loop calls :func:`close_round` at its "select" phase. That
writes ``round_NN/review.json`` (the round is *paused*), obtains ``round_NN/human.json`` from the
reviewer, and merges it into the round's ``feedback.json`` (source ``human``), which the next round's
prompt, the offline designer and the validation of new candidates read. A submitted review is never
asked for again: ``resume`` reuses it. Feedback enters the run only through :func:`submit_feedback`,
which checks it (candidate ids, components, an edited reward through the sandbox) and writes it
atomically, so bad input gets a one-line :class:`ReviewError` and nothing recorded is lost.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

from rewardsmith.agent.design.candidates import check_constraints
from rewardsmith.agent.records.config import RunConfig
from rewardsmith.agent.records.results import CandidateResult, RoundFeedback
from rewardsmith.agent.records.review import (
    HumanFeedback,
    LockedComponent,
    ReviewRequest,
    component_form,
)
from rewardsmith.agent.review.feedback import automatic_feedback, human_feedback
from rewardsmith.agent.rundir.store import RunStore
from rewardsmith.core.errors import ReviewError, ReviewPending


class RoundReviewer(Protocol):
    def review(self, session: ReviewSession) -> None:
        """Get the round's feedback submitted (via :func:`submit_feedback`) or raise :class:`ReviewPending`."""
        ...


@dataclass(frozen=True)
class ReviewSession:
    """A paused round as reviewers see it: the request and every candidate they may look at."""

    store: RunStore
    request: ReviewRequest
    results: dict[str, CandidateResult]
    """The round's candidates (all, rejected ones too) and the incumbent, by id."""


# -- the gate ------------------------------------------------------------------------------------
def close_round(rnd: int, results: list[CandidateResult], incumbent: CandidateResult | None,
                previous: RoundFeedback | None, cfg: RunConfig, store: RunStore, reviewer: RoundReviewer | None
                ) -> RoundFeedback:
    """Select the round's best and write ``feedback.json``; with review on, pause for the reviewer first."""
    automatic = automatic_feedback(rnd, results, incumbent)
    if cfg.review == "none" or reviewer is None:
        store.save_feedback(automatic)
        return automatic
    human = store.load_human(rnd)
    if human is None:
        prior = previous.human if previous is not None else None
        offered = tuple(r.candidate.id for r in results if r.fitness is not None)
        if incumbent is not None and incumbent.candidate.id not in offered:
            offered += (incumbent.candidate.id,)
        request = ReviewRequest(round=rnd, mode=cfg.review, candidates=offered,
                                incumbent=incumbent.candidate.id if incumbent else None,
                                locked=prior.locked if prior else (), forbidden=prior.forbidden if prior else (),
                                created=_now())
        store.save_review_request(request)
        by_id = {r.candidate.id: r for r in results}
        if incumbent is not None:
            by_id[incumbent.candidate.id] = incumbent
        reviewer.review(ReviewSession(store, request, by_id))
        human = store.load_human(rnd)
        if human is None:
            raise ReviewPending(f"round {rnd} was not reviewed; continue with: rewardsmith resume {store.root}")
    known = {r.candidate.id: r for r in results}
    if incumbent is not None:
        known[incumbent.candidate.id] = incumbent
    feedback = human_feedback(automatic, human, known, incumbent.candidate.id if incumbent else None,
                              cfg.preference_only)
    store.save_feedback(feedback)
    return feedback


def open_session(store: RunStore, rnd: int | None = None) -> ReviewSession:
    """The paused round of a run directory, ready to review."""
    store.load_record()
    rnd = store.paused_round() if rnd is None else rnd
    if rnd is None:
        raise ReviewError(f"{store.root}: no round is waiting for review (start runs with --review cli|web)")
    request = store.load_review_request(rnd)
    if request is None:
        raise ReviewError(f"{store.root}: round {rnd} is not waiting for review")
    results = {r.candidate.id: r for r in store.round_results(rnd)}
    if request.incumbent is not None and request.incumbent not in results:
        results[request.incumbent] = load_result(store, request.incumbent)
    return ReviewSession(store, request, results)


def load_result(store: RunStore, cid: str) -> CandidateResult:
    """A candidate of the run by id, or a :class:`ReviewError` naming it."""
    result = store.load_result_by_id(cid)
    if result is None:
        raise ReviewError(f"no candidate {cid!r} in {store.root}")
    return result


# -- submitting feedback -------------------------------------------------------------------------
def submit_feedback(session: ReviewSession, feedback: HumanFeedback) -> HumanFeedback:
    """Check ``feedback`` against the paused round and write ``human.json``; raise :class:`ReviewError`."""
    store, request = session.store, session.request
    if feedback.round != request.round:
        raise ReviewError(f"feedback is for round {feedback.round}, but round {request.round} is under review")
    if store.has_human(request.round):
        raise ReviewError(f"round {request.round} was already reviewed; the submitted review is kept")
    offered = request.candidates
    for role, cid in (("best", feedback.best), ("worst", feedback.worst)):
        check_offered(cid, role, offered, request.round)
    for pair in feedback.pairs:
        check_offered(pair.winner, "pair winner", offered, request.round)
        check_offered(pair.loser, "pair loser", offered, request.round)
        if pair.winner == pair.loser:
            raise ReviewError(f"a pairwise choice compares {pair.winner} with itself")
    if feedback.best is not None and feedback.best == feedback.worst:
        raise ReviewError(f"{feedback.best} cannot be both the best and the worst")
    locked = tuple(resolve_lock(session, lc) for lc in feedback.locked)
    clash = sorted({lc.name for lc in locked} & set(feedback.forbidden))
    if clash:
        raise ReviewError(f"component {clash[0]!r} cannot be both locked and forbidden")
    feedback = replace(feedback, locked=locked, submitted=feedback.submitted or _now())
    if feedback.edited_code is not None:
        feedback = replace(feedback, edited_code=check_edit(session, feedback))
    store.save_human(feedback)
    return feedback


def check_edit(session: ReviewSession, feedback: HumanFeedback) -> str:
    """An edited reward must pass the sandbox (and the reviewer's own constraints) before it is accepted.

    Returns the edited module (a pasted response with a code fence is reduced to its code).
    """
    from rewardsmith.agent.design.candidates import probe
    from rewardsmith.agent.design.extract import ExtractionError, extract_reward
    from rewardsmith.envs.rollout import random_rollout
    from rewardsmith.envs.tasks import load_task

    source = feedback.edited_from
    if source is None or source not in session.results or session.results[source].candidate.code is None:
        raise ReviewError(f"an edited reward must name the candidate it edits; choose from: "
                          f"{', '.join(c for c, r in session.results.items() if r.candidate.code) or 'none'}")
    code = (feedback.edited_code or "").strip()
    if not code:
        raise ReviewError(f"the edited reward of {source} is empty")
    try:
        code = extract_reward(code).code
    except ExtractionError as err:
        raise ReviewError(f"the edited reward of {source} was not accepted: {err.message}") from None
    cfg = session.store.load_record().config
    task = load_task(cfg.task)
    sample = random_rollout(task, n=256, seed=cfg.seed)
    report = probe(task, code, sample, cfg.allow_weak_sandbox)
    problem = None if not report.accepted else check_constraints(report.components, feedback.locked,
                                                                 feedback.forbidden)
    if not report.accepted:
        first = report.message.strip().splitlines()[0] if report.message.strip() else report.reason
        problem = f"the sandbox rejected it at the {report.stage} stage: {first}"
    if problem is not None:
        raise ReviewError(f"the edited reward of {source} was not accepted: {problem}")
    return code


def check_offered(cid: str | None, role: str, offered: tuple[str, ...], rnd: int) -> None:
    if cid is not None and cid not in offered:
        raise ReviewError(f"{role}: no trained candidate {cid!r} in round {rnd}; choose from: "
                          f"{', '.join(offered) or 'none (no candidate was trained)'}")


def resolve_lock(session: ReviewSession, lock: LockedComponent) -> LockedComponent:
    """A lock already in force stays as it is; a new one must name a component of a candidate on review."""
    in_force = next((lc for lc in session.request.locked if (lc.name, lc.source) == (lock.name, lock.source)), None)
    if in_force is not None:
        return in_force
    result = session.results.get(lock.source)
    if result is None or result.candidate.code is None:
        raise ReviewError(f"cannot lock {lock.name!r}: no candidate {lock.source!r} on review; choose from: "
                          f"{', '.join(session.results)}")
    if lock.name not in result.validation.components:
        raise ReviewError(f"cannot lock {lock.name!r}: {lock.source} has no such component; it has: "
                          f"{', '.join(result.validation.components) or 'none'}")
    return LockedComponent(lock.name, lock.source, component_form(result.candidate.code, lock.name) or "")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")

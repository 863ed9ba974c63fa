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

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from agent.config import RunConfig
from agent.feedback import automatic_feedback, human_feedback
from agent.human import Guidance, HumanFeedback, LockedComponent, ReviewRequest, check_constraints, component_form
from agent.preferences import PreferenceOracle, hide_fitness, preference_scores
from agent.records import Candidate, CandidateResult, RoundFeedback
from agent.store import RunStore
from core.atomic import read_record, write_json
from core.errors import ReviewError, ReviewPending, RunStoreError

_CID = re.compile(r"^r(\d{2,})c(\d{2,})$")


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
    human = store_human(store, rnd)
    if human is None:
        prior = previous.human if previous is not None else None
        offered = tuple(r.candidate.id for r in results if r.fitness is not None)
        if incumbent is not None and incumbent.candidate.id not in offered:
            offered += (incumbent.candidate.id,)
        request = ReviewRequest(rnd, cfg.review, offered, incumbent.candidate.id if incumbent else None,
                                prior.locked if prior else (), prior.forbidden if prior else (), _now())
        write_json(store.round_dir(rnd) / "review.json", request)
        by_id = {r.candidate.id: r for r in results}
        if incumbent is not None:
            by_id[incumbent.candidate.id] = incumbent
        reviewer.review(ReviewSession(store, request, by_id))
        human = store_human(store, rnd)
        if human is None:
            raise ReviewPending(f"round {rnd} was not reviewed; continue with: rewardsmith resume {store.root}")
    known = {r.candidate.id: r for r in results}
    if incumbent is not None:
        known[incumbent.candidate.id] = incumbent
    feedback = human_feedback(automatic, human, known, incumbent.candidate.id if incumbent else None,
                              cfg.preference_only)
    store.save_feedback(feedback)
    return feedback


def store_human(store: RunStore, rnd: int) -> HumanFeedback | None:
    path = store.round_dir(rnd) / "human.json"
    if not path.is_file():
        return None
    try:
        return read_record(path, HumanFeedback)
    except ValueError as exc:
        raise RunStoreError(f"{path}: malformed review ({str(exc).splitlines()[0]}); fix it or move it away "
                            "and review the round again") from None


def load_request(store: RunStore, rnd: int) -> ReviewRequest | None:
    path = store.round_dir(rnd) / "review.json"
    if not path.is_file():
        return None
    try:
        return read_record(path, ReviewRequest)
    except ValueError as exc:
        raise RunStoreError(f"{path}: unreadable ({str(exc).splitlines()[0]})") from None


def paused_round(store: RunStore) -> int | None:
    """The round that waits for review (has ``review.json`` but no ``human.json``), if any."""
    rounds = sorted(int(p.name[6:]) for p in store.root.glob("round_*") if p.name[6:].isdigit())
    waiting = [r for r in rounds if (store.round_dir(r) / "review.json").is_file()
               and not (store.round_dir(r) / "human.json").is_file()]
    return waiting[-1] if waiting else None


def open_session(store: RunStore, rnd: int | None = None) -> ReviewSession:
    """The paused round of a run directory, ready to review."""
    store.load_record()
    rnd = paused_round(store) if rnd is None else rnd
    if rnd is None:
        raise ReviewError(f"{store.root}: no round is waiting for review (start runs with --review cli|web)")
    request = load_request(store, rnd)
    if request is None:
        raise ReviewError(f"{store.root}: round {rnd} is not waiting for review")
    results = {r.candidate.id: r for r in round_results(store, rnd)}
    if request.incumbent is not None and request.incumbent not in results:
        results[request.incumbent] = load_result(store, request.incumbent)
    return ReviewSession(store, request, results)


# -- reading candidates --------------------------------------------------------------------------
def round_results(store: RunStore, rnd: int) -> list[CandidateResult]:
    """Every candidate of a round that has a verdict, in index order."""
    out = []
    for path in sorted(store.round_dir(rnd).glob("cand_*/candidate.json")):
        cand = read_record(path, Candidate)
        if (path.parent / "validation.json").is_file():
            out.append(store.load_result(cand))
    return out


def load_result(store: RunStore, cid: str) -> CandidateResult:
    match = _CID.match(cid)
    path = store.cand_dir(int(match.group(1)), int(match.group(2))) / "candidate.json" if match else None
    if path is None or not path.is_file():
        raise ReviewError(f"no candidate {cid!r} in {store.root}")
    return store.load_result(read_record(path, Candidate))


# -- submitting feedback -------------------------------------------------------------------------
def submit_feedback(session: ReviewSession, feedback: HumanFeedback) -> HumanFeedback:
    """Check ``feedback`` against the paused round and write ``human.json``; raise :class:`ReviewError`."""
    store, request = session.store, session.request
    if feedback.round != request.round:
        raise ReviewError(f"feedback is for round {feedback.round}, but round {request.round} is under review")
    if store_human(store, request.round) is not None:
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
    write_json(store.round_dir(request.round) / "human.json", feedback)
    return feedback


def check_edit(session: ReviewSession, feedback: HumanFeedback) -> str:
    """An edited reward must pass the sandbox (and the reviewer's own constraints) before it is accepted.

    Returns the edited module (a pasted response with a code fence is reduced to its code).
    """
    from agent.extract import ExtractionError, extract_reward
    from envs.rollout import random_rollout
    from envs.tasks import load_task
    from sandboxes.validate import validate_source

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
    report = validate_source(code, task.adapter.spec, sample.states, sample.actions)
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


# -- what the next round gets ----------------------------------------------------------------------
def human_candidates(rnd: int, k: int, previous: RoundFeedback | None, store: RunStore) -> list[Candidate]:
    """The reviewer's edited reward of the previous round, as this round's extra candidate ``K+1``."""
    human = previous.human if previous is not None else None
    if human is None or human.edited_code is None:
        return []
    cand = Candidate(f"r{rnd:02d}c{k + 1:02d}", rnd, k + 1, human.edited_code.strip() + "\n",
                     f"human (reviewer's edit of {human.edited_from})", human.edited_from)
    if not (store.cand_dir(rnd, k + 1) / "candidate.json").is_file():
        store.save_sampled(cand, "(written by the reviewer of round {})\n".format(previous.round if previous else ""),
                           f"```python\n{cand.code}```\n")
    return [cand]


def designer_history(history: list[CandidateResult], cfg: RunConfig) -> tuple[CandidateResult, ...]:
    """What designers may see of earlier candidates: everything, or no fitness in a preferences-only run."""
    return tuple(hide_fitness(r) for r in history) if cfg.preference_only else tuple(history)


def guidance(store: RunStore, rnd: int, cfg: RunConfig) -> Guidance | None:
    """Everything reviewers said before round ``rnd``, for the offline designer; None without review."""
    if cfg.review == "none":
        return None
    reviews: list[tuple[HumanFeedback, tuple[str, ...]]] = []
    for r in range(1, rnd):
        human, request = store_human(store, r), load_request(store, r)
        if human is not None:
            reviews.append((human, request.candidates if request is not None else ()))
    if not reviews:
        return Guidance(preference_only=cfg.preference_only)
    latest = reviews[-1][0]
    best = next((h.best for h, _ in reversed(reviews) if h.best is not None), None)
    return Guidance(best=best, worst=tuple(h.worst for h, _ in reviews if h.worst is not None),
                    scores=preference_scores(reviews), locked=latest.locked, forbidden=latest.forbidden,
                    text=latest.text, preference_only=cfg.preference_only)


# -- reviewers -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class OracleReviewer:
    """The synthetic preference oracle as a reviewer (tests, benchmarks, preferences-only runs)."""

    oracle: PreferenceOracle

    def review(self, session: ReviewSession) -> None:
        submit_feedback(session, self.oracle.judge(session.request, session.results))


@dataclass(frozen=True)
class WebWaiter:
    """``--review web``: wait (bounded) until the web app or ``rewardsmith review`` submits the review."""

    timeout_s: float
    say: Callable[[str], None]
    poll_s: float = 0.5

    def review(self, session: ReviewSession) -> None:
        rnd, root = session.request.round, session.store.root
        self.say(f"round {rnd} waits for review: open `rewardsmith ui --runs {root.parent}` "
                 f"or run `rewardsmith review {root}`")
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            if (session.store.round_dir(rnd) / "human.json").is_file():
                return
            time.sleep(self.poll_s)
        raise ReviewPending(f"round {rnd} still waits for review after {self.timeout_s:g} s; review it with "
                            f"`rewardsmith ui` or `rewardsmith review {root}`, then `rewardsmith resume {root}`")


def make_reviewer(cfg: RunConfig, say: Callable[[str], None]) -> RoundReviewer | None:
    if cfg.review == "oracle":
        return OracleReviewer(PreferenceOracle(cfg.oracle_noise, cfg.seed))
    if cfg.review == "web":
        return WebWaiter(cfg.review_timeout_s, say)
    if cfg.review == "cli":
        from agent.review_terminal import TerminalReviewer

        return TerminalReviewer.interactive()
    return None


def wants_video(cfg: RunConfig) -> bool:
    """Rollout videos are recorded when a person reviews (or when asked for with ``--video``)."""
    return cfg.videos if cfg.videos is not None else cfg.review in ("cli", "web")


def video_path(store: RunStore, result: CandidateResult) -> Path | None:
    path = store.cand_dir(result.candidate.round, result.candidate.index) / "video.mp4"
    return path if path.is_file() else None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")

"""What the next round gets: the designer's request, built from the history and the feedback so far.

The prompt carries the incumbent (the previous round's selection, a reviewer's choice winning) and
its critique; the offline designer reads the same as typed history plus the reviewers' guidance; a
reviewer's edited reward joins the round as candidate ``K+1``.
"""

from __future__ import annotations

from agent.config import RunConfig
from agent.designers import DesignRequest
from agent.feedback import select_incumbent
from agent.human import Guidance, HumanFeedback
from agent.preferences import hide_fitness, preference_scores
from agent.prompting import round_messages
from agent.records import Candidate, CandidateResult, RoundFeedback
from agent.store import RunStore, candidate_id
from envs.tasks import Task


def request(task: Task, rnd: int, history: list[CandidateResult], feedback: RoundFeedback | None,
            store: RunStore, cfg: RunConfig) -> tuple[DesignRequest, CandidateResult | None]:
    """The round's design request, and the incumbent it builds on (None in round 1)."""
    incumbent = select_incumbent(history, feedback, cfg.preference_only)
    messages = round_messages(task, incumbent.candidate.code if incumbent else None,
                              feedback.summary if feedback else None)
    return DesignRequest(task=task, round=rnd, k=cfg.samples, seed=cfg.seed, messages=tuple(messages),
                         history=designer_history(history, cfg), guidance=guidance(store, rnd, cfg)), incumbent


def reviewer_edit(rnd: int, k: int, previous: RoundFeedback | None, store: RunStore) -> list[Candidate]:
    """The reviewer's edited reward of the previous round, as this round's extra candidate ``K+1``."""
    human = previous.human if previous is not None else None
    if human is None or human.edited_code is None:
        return []
    cand = Candidate(id=candidate_id(rnd, k + 1), round=rnd, index=k + 1, code=human.edited_code.strip() + "\n",
                     origin=f"human (reviewer's edit of {human.edited_from})", parent=human.edited_from)
    if not store.has_candidate(rnd, k + 1):
        store.save_sampled(cand, f"(written by the reviewer of round {previous.round if previous else ''})\n",
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
        human, req = store.load_human(r), store.load_review_request(r)
        if human is not None:
            reviews.append((human, req.candidates if req is not None else ()))
    if not reviews:
        return Guidance(preference_only=cfg.preference_only)
    latest = reviews[-1][0]
    best = next((h.best for h, _ in reversed(reviews) if h.best is not None), None)
    return Guidance(best=best, worst=tuple(h.worst for h, _ in reviews if h.worst is not None),
                    scores=preference_scores(reviews), locked=latest.locked, forbidden=latest.forbidden,
                    text=latest.text, preference_only=cfg.preference_only)

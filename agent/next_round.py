"""What the next round gets: the designer's request, built from the history and the feedback so far.

The prompt carries the parents the ``--selection`` policy picks from the lineage archive (by default
the previous round's selection, a reviewer's choice winning) and their critiques; the offline designer reads the same as typed history plus the reviewers' guidance; a
reviewer's edited reward joins the round as candidate ``K+1``.
"""

from __future__ import annotations

from rewardsmith.agent.context import RunContext
from rewardsmith.agent.design.designers import DesignRequest
from rewardsmith.agent.design.lineage import (
    SELECTIONS,
    Lineage,
    ParentChoice,
    PlannedRequest,
    Selection,
    build,
    choose_parents,
    parents_text,
)
from rewardsmith.agent.design.prompting import render, round_messages
from rewardsmith.agent.records.config import RunConfig
from rewardsmith.agent.records.results import Candidate, CandidateResult, RoundFeedback
from rewardsmith.agent.records.review import Guidance, HumanFeedback
from rewardsmith.agent.review.feedback import select_incumbent
from rewardsmith.agent.review.preferences import hide_fitness, preference_scores
from rewardsmith.agent.rundir.store import RunStore, candidate_id
from rewardsmith.agent.tune.tuner import load_result
from rewardsmith.core.atomic import read_record, write_json
from rewardsmith.envs.tasks import Task


def request(ctx: RunContext, rnd: int, history: list[CandidateResult], feedback: RoundFeedback | None
            ) -> tuple[DesignRequest, CandidateResult | None]:
    """The round's design request, and the incumbent it builds on (None in round 1)."""
    return design_request(ctx.task, ctx.store, ctx.cfg, rnd, history, feedback, ctx.trainer.backend.prompt_rules)


def design_request(task: Task, store: RunStore, cfg: RunConfig, rnd: int, history: list[CandidateResult],
                   feedback: RoundFeedback | None, backend_rules: tuple[str, ...] = ()
                   ) -> tuple[DesignRequest, CandidateResult | None]:
    """:func:`request` from its parts (``backend_rules``: what the training backend adds to the prompt's rules).

    The incumbent is the last-best selection (what the round's feedback compares against); the prompt's
    parents come from the ``--selection`` policy (:mod:`agent.design.lineage`), recorded in ``parents.json``.
    """
    incumbent = select_incumbent(history, feedback, cfg.preference_only)
    choice, lineage = plan_parents(rnd, history, feedback, incumbent, store, selection_of(cfg), cfg.preference_only)
    by_id = {r.candidate.id: r for r in history}
    primary = by_id.get(choice.ids[0]) if choice.ids else incumbent
    text = parent_feedback(rnd, primary, incumbent, feedback, choice, by_id) if feedback else None
    messages = round_messages(task, primary.candidate.code if primary else None,
                              text if primary is not None else (feedback.summary if feedback else None),
                              backend_rules=backend_rules)
    if rnd > 1:
        write_json(store.round_files(rnd).parents, choice)
        write_json(store.lineage_file, lineage)
    return PlannedRequest(task=task, round=rnd, k=cfg.samples, seed=cfg.seed, messages=tuple(messages),
                          history=designer_history(history, cfg), guidance=guidance(store, rnd, cfg),
                          parents=choice.ids), incumbent


def selection_of(cfg: RunConfig) -> Selection:
    """The run's ``--selection`` policy."""
    return cfg.selection if cfg.selection in SELECTIONS else "last-best"


def plan_parents(rnd: int, history: list[CandidateResult], feedback: RoundFeedback | None,
                 incumbent: CandidateResult | None, store: RunStore, policy: Selection,
                 preference_only: bool = False) -> tuple[ParentChoice, Lineage]:
    """The lineage archive so far and the parents the policy picks for round ``rnd``.

    A preferences-only run has no fitness to search the tree by: it keeps the reviewers' last-best choice.
    """
    responses = {r.candidate.id: _response(store, r) for r in history}
    parents = {n: tuple(_recorded_parents(store, n)) for n in range(2, rnd)}
    lineage = build(history, responses, parents, hide_scores=preference_only)
    reviewer = feedback is not None and feedback.source == "human" and feedback.best_id is not None
    codes = {r.candidate.id: r.candidate.code or "" for r in history}
    choice = choose_parents(rnd, lineage, "last-best" if preference_only else policy,
                            incumbent.candidate.id if incumbent else None, codes=codes, reviewer_choice=reviewer)
    return choice, lineage


def parent_feedback(rnd: int, primary: CandidateResult | None, incumbent: CandidateResult | None,
                    feedback: RoundFeedback, choice: ParentChoice, by_id: dict[str, CandidateResult]) -> str:
    """The feedback text for the prompt: the round's own when it is about the first parent, else that parent's
    critique; then the runners-up with their code and critiques (within the stated token budget)."""
    if primary is None or incumbent is None or primary.candidate.id == incumbent.candidate.id:
        text = feedback.summary
    else:
        why = choice.reasons[0] if choice.reasons else choice.policy
        text = render("feedback.j2", round=rnd - 1,
                      best_line=(f"The reward shown is {primary.candidate.id} from round {primary.candidate.round}, "
                                 f"chosen from the whole history by the {choice.policy} selection ({why})."),
                      best_critique=primary.critique.text if primary.critique is not None else "", others=[])
    extra = parents_text(choice, by_id)
    return f"{text.rstrip()}\n\n{extra}" if extra else text


def _response(store: RunStore, r: CandidateResult) -> str:
    try:
        return store.load_response(r.candidate)
    except OSError:
        return ""


def _recorded_parents(store: RunStore, rnd: int) -> tuple[str, ...]:
    path = store.round_files(rnd).parents
    return read_record(path, ParentChoice).ids if path.is_file() else ()


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


def best_of(history: list[CandidateResult], feedback: RoundFeedback) -> CandidateResult | None:
    """The round's selection (what ``--tune`` tunes)."""
    return next((r for r in history if r.candidate.id == feedback.best_id), None)


def tuned_entry(rnd: int, k: int, previous: RoundFeedback | None, store: RunStore) -> list[Candidate]:
    """The previous round's selection with its constants tuned (``--tune``), as this round's candidate ``K+2``."""
    best = previous.best_id if previous is not None else None
    result = load_result(store.tune_files(best)) if best is not None else None
    if best is None or result is None or not result.diff:
        return []  # not tuned, or the designer's constants were the best found
    code = store.tune_files(best).tuned.read_text(encoding="utf-8")
    cand = Candidate(id=candidate_id(rnd, k + 2), round=rnd, index=k + 2, code=code,
                     origin=f"tuned (the named constants of {best} searched with Optuna)", parent=best)
    if not store.has_candidate(rnd, k + 2):
        store.save_sampled(cand, f"(the constants of {best} tuned with Optuna: {len(result.trials)} trials)\n",
                           f"Tuned constants of {best}.\n\n```diff\n{result.diff}```\n\n```python\n{code}```\n")
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

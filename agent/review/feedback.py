"""Selection and the automatic feedback a round hands to the next one.

The best candidate is the one with the highest fitness on the selection seeds (held-out fitness is
only reported). The feedback text is the best candidate's critique plus one line per other
candidate, rendered from ``prompts/feedback.j2``; it goes into the next round's prompt. A reviewer's
feedback (``--review``) is merged in by :func:`human_feedback` (``prompts/human_feedback.j2``).
"""

from __future__ import annotations

from rewardsmith.agent.design.prompting import render
from rewardsmith.agent.records.results import CandidateResult, RoundFeedback
from rewardsmith.agent.records.review import HumanFeedback


def select_best(results: list[CandidateResult]) -> CandidateResult | None:
    scored = [r for r in results if r.fitness is not None and r.early_stop is None]  # never a partial training
    return max(scored, key=lambda r: r.fitness or 0.0) if scored else None


def automatic_feedback(rnd: int, results: list[CandidateResult], previous_best: CandidateResult | None
                       ) -> RoundFeedback:
    """Build the round's feedback; if nothing in this round beat the best so far, keep that one."""
    best = select_best(results + ([previous_best] if previous_best is not None else []))
    if best is None:
        lines = [_one_line(r) for r in results]
        text = render("feedback.j2", round=rnd, best_line="None of the reward functions produced a trained policy.",
                      best_critique="", others=lines)
        return RoundFeedback(round=rnd, best_id=None, best_fitness=None, summary=text)
    if best.candidate.round == rnd:
        best_line = f"The best one by task fitness was {best.candidate.id}."
    else:
        best_line = (f"None beat the best reward so far, {best.candidate.id} from round {best.candidate.round}, "
                     "which is shown here.")
    critique = best.critique.text if best.critique is not None else ""
    others = [_one_line(r) for r in results if r is not best]
    text = render("feedback.j2", round=rnd, best_line=best_line, best_critique=critique, others=others)
    return RoundFeedback(round=rnd, best_id=best.candidate.id, best_fitness=best.fitness, summary=text)


def select_incumbent(history: list[CandidateResult], previous: RoundFeedback | None,
                     preference_only: bool = False) -> CandidateResult | None:
    """The reward the next round builds on: the previous round's selection (a reviewer's choice wins).

    A preferences-only run never falls back to fitness: without a choice there is no incumbent.
    """
    if previous is not None and previous.best_id is not None:
        chosen = next((r for r in history if r.candidate.id == previous.best_id), None)
        if chosen is not None:
            return chosen
    return None if preference_only else select_best(history)


def human_feedback(automatic: RoundFeedback, human: HumanFeedback, known: dict[str, CandidateResult],
                   incumbent: str | None, preference_only: bool) -> RoundFeedback:
    """Merge a review into the round's feedback: the reviewer's best wins, their words go into the prompt.

    In a preferences-only run the automatic text (which quotes fitness) is left out, and the component
    statistics of the preferred reward are shown without any fitness series.
    """
    best = known.get(human.best) if human.best is not None else None
    if best is None and preference_only and incumbent is not None:
        best = known.get(incumbent)  # no new choice: the earlier preferred reward stays the one to build on
    worst = known.get(human.worst) if human.worst is not None else None
    reflection = best.critique.components if preference_only and best is not None and best.critique else ()
    text = render("human_feedback.j2", round=automatic.round, preference_only=preference_only,
                  best=best.candidate.id if best is not None else None, worst=human.worst, worst_code=(worst.candidate.code or "") if worst else "",
                  pairs=list(human.pairs), text=human.text, edited_from=human.edited_from,
                  edited_code=human.edited_code or "", locked=list(human.locked), forbidden=list(human.forbidden),
                  reflection=list(reflection))
    summary = text if preference_only else f"{automatic.summary.rstrip()}\n\n{text}"
    if best is not None:
        return RoundFeedback(round=automatic.round, best_id=best.candidate.id, best_fitness=best.fitness, summary=summary, source="human", human=human)
    if preference_only:
        return RoundFeedback(round=automatic.round, best_id=None, best_fitness=None, summary=summary, source="human", human=human)
    return RoundFeedback(round=automatic.round, best_id=automatic.best_id, best_fitness=automatic.best_fitness, summary=summary, source="human", human=human)


def _one_line(r: CandidateResult) -> str:
    if r.fitness is not None:
        flags = r.critique.flags if r.critique is not None else ()
        return f"{r.candidate.id}: fitness {r.fitness:.4g}" + (f" ({', '.join(map(str, flags))})" if flags else "")
    if not r.validation.accepted:
        first = r.validation.message.splitlines()[0] if r.validation.message else r.validation.reason
        return f"{r.candidate.id}: rejected ({r.validation.stage}): {first}"
    return f"{r.candidate.id}: {r.status}" + (f": {r.training.error}" if r.training and r.training.error else "")

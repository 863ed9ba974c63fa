"""Selection and the automatic feedback a round hands to the next one.

The best candidate is the one with the highest fitness on the selection seeds (held-out fitness is
only reported). The feedback text is the best candidate's critique plus one line per other
candidate, rendered from ``prompts/feedback.j2``; it goes into the next round's prompt.
"""

from __future__ import annotations

from agent.prompting import render
from agent.records import CandidateResult, RoundFeedback


def select_best(results: list[CandidateResult]) -> CandidateResult | None:
    scored = [r for r in results if r.fitness is not None]
    return max(scored, key=lambda r: r.fitness or 0.0) if scored else None


def automatic_feedback(rnd: int, results: list[CandidateResult], previous_best: CandidateResult | None
                       ) -> RoundFeedback:
    """Build the round's feedback; if nothing in this round beat the best so far, keep that one."""
    best = select_best(results + ([previous_best] if previous_best is not None else []))
    if best is None:
        lines = [_one_line(r) for r in results]
        text = render("feedback.j2", round=rnd, best_line="None of the reward functions produced a trained policy.",
                      best_critique="", others=lines)
        return RoundFeedback(rnd, None, None, text)
    if best.candidate.round == rnd:
        best_line = f"The best one by task fitness was {best.candidate.id}."
    else:
        best_line = (f"None beat the best reward so far, {best.candidate.id} from round {best.candidate.round}, "
                     "which is shown here.")
    critique = best.critique.text if best.critique is not None else ""
    others = [_one_line(r) for r in results if r is not best]
    text = render("feedback.j2", round=rnd, best_line=best_line, best_critique=critique, others=others)
    return RoundFeedback(rnd, best.candidate.id, best.fitness, text)


def _one_line(r: CandidateResult) -> str:
    if r.fitness is not None:
        flags = r.critique.flags if r.critique is not None else ()
        return f"{r.candidate.id}: fitness {r.fitness:.4g}" + (f" ({', '.join(flags)})" if flags else "")
    if not r.validation.accepted:
        first = r.validation.message.splitlines()[0] if r.validation.message else r.validation.reason
        return f"{r.candidate.id}: rejected ({r.validation.stage}): {first}"
    return f"{r.candidate.id}: {r.status}" + (f": {r.training.error}" if r.training and r.training.error else "")

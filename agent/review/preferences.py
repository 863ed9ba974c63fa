"""Preferences: the synthetic preference oracle, preference scores, and hiding fitness from designers.

ICPL's setting is a task with no fitness function: a person watches the K policies and names the
best and the worst. To measure such a run end to end, :class:`PreferenceOracle` plays that person:
it ranks the offered candidates by their ground-truth fitness plus Gaussian noise (``noise`` is the
noise's standard deviation as a fraction of the offered candidates' fitness spread, so 0 is a
perfect judge and 1 a poor one). The designer then sees only the choices, never the fitness
(:func:`hide_fitness`). :func:`preference_scores` turns every choice so far into Elo ratings
(REvolve: K = 32, start 1500), which rank candidates across rounds.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from rewardsmith.agent.records.results import FITNESS_FINDINGS, CandidateResult, Critique
from rewardsmith.agent.records.review import HumanFeedback, ReviewRequest

ELO_K = 32.0
ELO_START = 1500.0
# Flags computed from the task fitness; they would leak it to a designer that must not see it.
@dataclass(frozen=True)
class PreferenceOracle:
    """A synthetic reviewer: best and worst by noisy ground-truth fitness."""

    noise: float = 0.1
    seed: int = 0

    def judge(self, request: ReviewRequest, results: dict[str, CandidateResult]) -> HumanFeedback:
        """Pick the best and worst of the offered candidates that have a fitness (untrained ones are skipped)."""
        rng = random.Random(f"oracle:{self.seed}:{request.round}")
        scored = {cid: results[cid].fitness for cid in request.candidates
                  if cid in results and results[cid].fitness is not None}
        if not scored:
            return HumanFeedback(round=request.round, reviewer="oracle", submitted=_now())
        values = [float(v) for v in scored.values() if v is not None]
        spread = max(values) - min(values)
        scale = spread if spread > 0 else max(1e-9, abs(values[0]) * 0.1)
        noisy = {cid: float(v or 0.0) + rng.gauss(0.0, self.noise * scale) for cid, v in scored.items()}
        order = sorted(noisy, key=lambda c: noisy[c], reverse=True)
        worst = order[-1] if len(order) > 1 else None
        return HumanFeedback(round=request.round, reviewer="oracle", best=order[0], worst=worst,
                             locked=request.locked, forbidden=request.forbidden, submitted=_now())


def comparisons(feedback: HumanFeedback, offered: tuple[str, ...]) -> list[tuple[str, str]]:
    """(winner, loser) pairs implied by one review: best beats every other, every other beats worst."""
    out: list[tuple[str, str]] = []
    if feedback.best is not None:
        out += [(feedback.best, c) for c in offered if c != feedback.best]
    if feedback.worst is not None:
        out += [(c, feedback.worst) for c in offered if c not in (feedback.worst, feedback.best)]
    out += [(p.winner, p.loser) for p in feedback.pairs]
    return out


def preference_scores(history: list[tuple[HumanFeedback, tuple[str, ...]]]) -> dict[str, float]:
    """Elo ratings from every review so far (each with the candidates it offered), in round order."""
    ratings: dict[str, float] = {}
    for feedback, offered in history:
        for winner, loser in comparisons(feedback, offered):
            rw, rl = ratings.get(winner, ELO_START), ratings.get(loser, ELO_START)
            expected = 1.0 / (1.0 + math.pow(10.0, (rl - rw) / 400.0))
            ratings[winner] = rw + ELO_K * (1.0 - expected)
            ratings[loser] = rl - ELO_K * (1.0 - expected)
    return ratings


def hide_fitness(result: CandidateResult) -> CandidateResult:
    """The candidate as a designer may see it in a preferences-only run: no fitness anywhere."""
    training = result.training
    if training is not None:
        training = replace(training, checkpoints=tuple(replace(cp, fitness=None, env_return=None)
                                                     for cp in training.checkpoints))
    return replace(result, training=training, evaluation=None, critique=_without_fitness(result.critique))


def _without_fitness(critique: Critique | None) -> Critique | None:
    if critique is None:
        return None
    flags = tuple(f for f in critique.flags if f.kind not in FITNESS_FINDINGS)
    failure = replace(critique.failure, worst_fitness=None, best_fitness=None) if critique.failure else None
    return replace(critique, fitness=None, flags=flags, text="", failure=failure, screen=None,
                   diagnosis=tuple(replace(d, fitness_corr=None) for d in critique.diagnosis))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")

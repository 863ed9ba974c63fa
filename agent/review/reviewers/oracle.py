"""The synthetic preference oracle as a reviewer (tests, benchmarks, preferences-only runs)."""

from __future__ import annotations

from dataclasses import dataclass

from rewardsmith.agent.review.gate import ReviewSession, submit_feedback
from rewardsmith.agent.review.preferences import PreferenceOracle


@dataclass(frozen=True)
class OracleReviewer:
    """Answers each paused round with the oracle's noisy ground-truth judgement."""

    oracle: PreferenceOracle

    def review(self, session: ReviewSession) -> None:
        submit_feedback(session, self.oracle.judge(session.request, session.results))

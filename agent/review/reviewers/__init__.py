"""Reviewers: who answers a paused round (``--review cli|web|oracle``), and the factory that picks one.

The gate (:mod:`agent.review.gate`) never imports this package; the CLI and the bench build a reviewer
here and hand it to the loop.
"""

from __future__ import annotations

from collections.abc import Callable

from rewardsmith.agent.records.config import RunConfig
from rewardsmith.agent.review.gate import RoundReviewer


def make_reviewer(cfg: RunConfig, say: Callable[[str], None]) -> RoundReviewer | None:
    """The reviewer ``cfg.review`` asks for; None without review."""
    if cfg.review == "oracle":
        from rewardsmith.agent.review.preferences import PreferenceOracle
        from rewardsmith.agent.review.reviewers.oracle import OracleReviewer

        return OracleReviewer(PreferenceOracle(cfg.oracle_noise, cfg.seed))
    if cfg.review == "web":
        from rewardsmith.agent.review.reviewers.web import WebWaiter

        return WebWaiter(cfg.review_timeout_s, say)
    if cfg.review == "cli":
        from rewardsmith.agent.review.reviewers.terminal import TerminalReviewer

        return TerminalReviewer.interactive()
    return None

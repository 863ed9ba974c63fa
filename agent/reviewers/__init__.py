"""Reviewers: who answers a paused round (``--review cli|web|oracle``), and the factory that picks one.

The gate (:mod:`agent.review`) never imports this package; the CLI and the bench build a reviewer
here and hand it to the loop.
"""

from __future__ import annotations

from collections.abc import Callable

from rewardsmith.agent.config import RunConfig
from rewardsmith.agent.review import RoundReviewer


def make_reviewer(cfg: RunConfig, say: Callable[[str], None]) -> RoundReviewer | None:
    """The reviewer ``cfg.review`` asks for; None without review."""
    if cfg.review == "oracle":
        from rewardsmith.agent.preferences import PreferenceOracle
        from rewardsmith.agent.reviewers.oracle import OracleReviewer

        return OracleReviewer(PreferenceOracle(cfg.oracle_noise, cfg.seed))
    if cfg.review == "web":
        from rewardsmith.agent.reviewers.web import WebWaiter

        return WebWaiter(cfg.review_timeout_s, say)
    if cfg.review == "cli":
        from rewardsmith.agent.reviewers.terminal import TerminalReviewer

        return TerminalReviewer.interactive()
    return None

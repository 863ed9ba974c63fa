"""``--review web``: the run waits (bounded) while a person reviews the round in the web app."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from rewardsmith.agent.review.gate import ReviewSession
from rewardsmith.core.errors import ReviewPending


@dataclass(frozen=True)
class WebWaiter:
    """Wait until the web app or ``rewardsmith review`` submits the review, at most ``timeout_s``."""

    timeout_s: float
    say: Callable[[str], None]
    poll_s: float = 0.5

    def review(self, session: ReviewSession) -> None:
        rnd, root = session.request.round, session.store.root
        self.say(f"round {rnd} waits for review: open `rewardsmith ui --runs {root.parent}` "
                 f"or run `rewardsmith review {root}`")
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            if session.store.has_human(rnd):
                return
            time.sleep(self.poll_s)
        raise ReviewPending(f"round {rnd} still waits for review after {self.timeout_s:g} s; review it with "
                            f"`rewardsmith ui` or `rewardsmith review {root}`, then `rewardsmith resume {root}`")

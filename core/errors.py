"""One exception hierarchy for RewardSmith's own failures.

LLM mistakes are data (they become fields of reports and flow into the next prompt); the errors
here are for bad user input and for our own bugs. Every message is one line, says what was
expected and, where there is a closed set, lists the valid choices.
"""

from __future__ import annotations


class RewardSmithError(Exception):
    """Base class. The CLI prints ``error: <message>`` and exits non-zero, without a traceback."""

    exit_code = 2


class TaskError(RewardSmithError):
    """A task name, task file, adapter or fitness function is unusable."""


class FitnessError(TaskError):
    """The task's fitness function raised or returned something that is not a finite float."""


class ConfigError(RewardSmithError):
    """A run option or run directory is invalid."""


class RunStoreError(RewardSmithError):
    """The run directory is missing, unreadable, or was written by an incompatible version."""


class SandboxError(RewardSmithError):
    """The sandbox itself (not the candidate) failed, e.g. the worker could not be started."""


class DesignerError(RewardSmithError):
    """A designer cannot produce candidates (unknown designer, unreachable model, bad script)."""


class DesignerStopped(DesignerError):
    """The designer cannot go on for now; the run stops cleanly, its state saved, and can be resumed."""

    exit_code = 3


class BudgetExhausted(DesignerStopped):
    """The next LLM call would pass ``--max-cost`` or ``--max-tokens``."""


class DesignerUnavailable(DesignerStopped):
    """Every call of a round failed on transient errors (rate limits, server errors, timeouts) after retries."""


class ReviewError(RewardSmithError):
    """Feedback that cannot be accepted (unknown candidate, rejected edit, malformed file, wrong round)."""


class ReviewPending(RewardSmithError):
    """The round still waits for review; the run stops here and ``resume`` continues it."""

    exit_code = 3

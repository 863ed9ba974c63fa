"""Which operating-system isolation the reward workers get on this machine.

Detected once per process. ``rlimits`` (always available on Linux) confines resources only; stronger
levels wrap the worker command. The level in force is shown to the user and recorded in the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Isolation:
    """How worker processes are started. ``level`` is a short human-readable label."""

    level: str
    prefix: tuple[str, ...] = ()

    def wrap(self, argv: list[str]) -> list[str]:
        return [*self.prefix, *argv]

    def child_env(self) -> dict[str, str]:
        """A minimal, explicit environment: no secrets, single-threaded math libraries."""
        env = {"PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
               "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "LANG": "C.UTF-8"}
        # The worker imports our own (trusted) modules; point it at this checkout explicitly.
        env["PYTHONPATH"] = str(PROJECT_ROOT)
        return env

    def describe(self) -> str:
        return f"sandbox: {self.level}"


@cache
def detect_isolation() -> Isolation:
    return Isolation(level="rlimits only (separate process, memory/file limits, parent-enforced timeouts)")

"""The ``rewardsmith bench`` options (:class:`BenchOptions`), apart from the bench itself.

Kept light (no numpy, no training imports) because the command line builds its parser from it on
every start, ``rewardsmith --help`` included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from rewardsmith.agent.records.config import BackendName, LLMOptions, default_workers, flag


@dataclass(frozen=True, kw_only=True)
class BenchOptions:
    """What to benchmark and how (the ``rewardsmith bench`` options)."""

    tasks: tuple[str, ...] = field(metadata=flag(cli=False))
    """Built-in task names or task files."""
    out_dir: Path = field(metadata=flag(cli=False))
    """The bench directory (created, or continued if it holds an earlier bench)."""
    designer: str = "offline"
    """As for run: offline | a litellm model string | scripted:DIR | replay:RUN_DIR."""
    rounds: int = field(default=2, metadata=flag(at_least=1, at_most=1000))
    """Rounds of the design loop per task."""
    samples: int = field(default=4, metadata=flag(at_least=1, at_most=1000))
    """Candidates per round."""
    seeds: int = field(default=3, metadata=flag(at_least=1, at_most=100))
    """Fresh training seeds of the final comparison (per arm)."""
    seed: int = field(default=0, metadata=flag(at_least=0, at_most=2**31 - 1))
    """Training seed of the design loop; the final seeds are ``seed + 1 … seed + seeds``."""
    steps: int | None = field(default=None, metadata=flag(at_least=1, at_most=10**10))
    """PPO steps per training run; None = each task file's budget."""
    backend: BackendName | Literal["auto"] = "sb3"
    """Training backend of the design loop and the final comparison, as for run: sb3 | jax | auto (a task file
    may set a budget per backend, [train.backend_steps])."""
    workers: int = field(default=1, metadata=flag(default=default_workers, default_help="this machine's cores",
                                                  at_least=1, at_most=1024))
    """Training processes running at once."""
    llm: LLMOptions = field(default_factory=LLMOptions, metadata=flag(cli=False))
    """Server, timeouts and cost caps when the designer is an LLM (as for ``run``)."""
    fix_attempts: int = field(default=2, metadata=flag(at_least=0, at_most=20))
    """Times a rejected candidate goes back to the designer with the exact problem."""

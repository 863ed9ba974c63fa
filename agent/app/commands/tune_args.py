"""The ``rewardsmith tune`` sub-command's arguments, apart from the tuning itself.

Kept light (no Optuna, numpy or training imports) because the command line builds its parser from
it on every start; the command line's handler imports :mod:`agent.app.commands.tune` only when ``tune`` runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import get_args

from rich.console import Console

from rewardsmith.agent.records.config import BackendName, default_workers


def add_tune_parser(sub: argparse._SubParsersAction, handler: Callable[[argparse.Namespace, Console], int]) -> None:
    """The ``tune`` sub-command (``agent.app.cli`` adds it with one call, with a handler that imports the tuning)."""
    s = sub.add_parser("tune", help="tune a reward's named constants (Optuna TPE + successive halving); "
                                    "the tuned reward is written as a new candidate")
    add_tune_arguments(s)
    s.set_defaults(handler=handler)


def add_tune_arguments(s: argparse.ArgumentParser) -> None:
    s.add_argument("source", help="a run directory (its best candidate) or a reward .py file")
    s.add_argument("task", nargs="?", default=None, help="task name or file (required for a reward file)")
    s.add_argument("--candidate", default=None, metavar="ID", help="in a run directory, tune this candidate (rRRcKK)")
    s.add_argument("--trials", type=int, default=12, help="Optuna trials in all (default 12)")
    s.add_argument("--rungs", type=int, default=2, help="successive-halving rungs; the last trains --steps (default 2)")
    s.add_argument("--eta", type=int, default=3, help="successive-halving reduction factor (default 3)")
    s.add_argument("--steps", type=int, default=None, help="env-steps of a full trial (default: the run's or task's budget)")
    s.add_argument("--seed", type=int, default=None, help="training seed (default: the run's, else 0)")
    s.add_argument("--range", action="append", default=[], metavar="NAME=LOW:HIGH",
                   help="search NAME in [LOW, HIGH] (or NAME=fixed to keep it); repeatable")
    s.add_argument("--workers", type=int, default=default_workers(),
                   help="training processes running at once (default: this machine's cores)")
    s.add_argument("--backend", choices=[*get_args(BackendName), "auto"], default="sb3",
                   help="sb3: one training process per trial; jax: a batch of trials in one compiled program")
    s.add_argument("--batch", type=int, default=None,
                   help="trials asked for and trained together per rung (default: 1 on sb3, up to 8 on jax)")
    s.add_argument("--dir", default=None, help="study folder for a reward file (default runs/tune-<task>-<hash>)")
    s.add_argument("--allow-weak-sandbox", action="store_true",
                   help="train even below bubblewrap + seccomp + rlimits (see sandboxes/README.md)")

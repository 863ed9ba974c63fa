"""Executors other than the local one (``agent.executor.LocalExecutor``); each satisfies ``agent.executor.Executor``."""

from __future__ import annotations

from pathlib import Path

from rewardsmith.agent.config import RunConfig
from rewardsmith.agent.executor import Executor, LocalExecutor


def make_executor(cfg: RunConfig, run_root: Path) -> Executor:
    """The executor ``--executor`` names; a Ray one connects on its first use (Ray stops it at exit)."""
    if cfg.executor == "ray":
        from rewardsmith.agent.executors.ray import RayExecutor

        return RayExecutor(run_root, address=cfg.ray_address)
    return LocalExecutor(cfg.workers)

"""Where job steps run: local processes or a Ray cluster, behind one :class:`~.base.Executor` and one scheduling loop."""

from __future__ import annotations

from pathlib import Path

from rewardsmith.agent.records.config import RunConfig
from rewardsmith.agent.train.executors.base import Executor
from rewardsmith.agent.train.executors.local import LocalExecutor


def make_executor(cfg: RunConfig, run_root: Path) -> Executor:
    """The executor ``--executor`` names; a Ray one connects on its first use (Ray stops it at exit)."""
    if cfg.executor == "ray":
        from rewardsmith.agent.train.executors.ray import RayExecutor

        return RayExecutor(run_root, address=cfg.ray_address)
    return LocalExecutor(cfg.workers)

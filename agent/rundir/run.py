"""Starting a run: the one place that records what a run is (``config.json``) before the loop starts.

``rewardsmith run``, ``resume`` and ``bench`` all come here, so a run directory made by any of them
holds the same :class:`~agent.records.config.RunRecord`: the configuration plus what was detected at start
(the designer's label, the sandbox's isolation level, the version).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version

from rewardsmith.agent.records.config import RunConfig, RunRecord
from rewardsmith.agent.rundir.store import RunStore

PACKAGES = ("rewardsmith", "torch", "stable-baselines3", "gymnasium", "mujoco", "numpy")


def prepare_run(store: RunStore, config: RunConfig, designer_label: str, sandbox: str, task_name: str) -> RunRecord:
    """Write ``config.json`` for a new run, or update the configuration of one being continued.

    A continued run keeps its original record (creation time, detected sandbox, version) with the
    new configuration; the loop then redoes nothing that is finished.
    """
    if store.config_file.is_file():
        record = replace(store.load_record(), config=config)
    else:
        record = RunRecord(config=config, task_name=task_name, designer_label=designer_label, sandbox=sandbox,
                           created=datetime.now(UTC).isoformat(timespec="seconds"), version=versions()["rewardsmith"])
    store.save_record(record)
    return record


def versions() -> dict[str, str]:
    """Installed versions of RewardSmith and the libraries its numbers depend on."""
    out = {}
    for pkg in PACKAGES:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out

"""Starting a run: the one place that records what a run is (``config.json``) before the loop starts.

``rewardsmith run``, ``resume`` and ``bench`` all come here, so a run directory made by any of them
holds the same :class:`~agent.records.config.RunRecord`: the configuration plus what was detected at start
(the designer's label, the sandbox's isolation level, the version).
"""

from __future__ import annotations

import shutil
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


def discard_if_empty(store: RunStore, samples: int, remove_parent: bool = False) -> bool:
    """Remove a new run's directory when it holds nothing but its start (``config.json``, the lock, a stop
    record): no sampled candidate and no stored LLM answer. True if it was removed.

    A run that fails or stops before its first candidate (an unreachable model, a fitness function
    that raises, Ctrl-C during the first call) would otherwise be listed by ``rewardsmith ui`` as a
    run with nothing in it (issue 26: 5 failed starts became 5 runs). It is removed rather than
    created late because the model's failure is only learnt in round 1, with the run already holding
    its directory (its lock, the stop record); removing only what holds no answer loses nothing,
    since the same command starts it again. ``remove_parent``: the folder above was made for this
    run, and goes too if it is left empty.
    """
    if _holds_work(store, samples):
        return False
    shutil.rmtree(store.root, ignore_errors=True)
    parent = store.root.parent
    if remove_parent and parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
    return not store.root.exists()


def _holds_work(store: RunStore, samples: int) -> bool:
    """Whether anything in the run came from its designer: a sampled candidate (a human edit or a tuned
    reward of round 1 is candidate K+1 or K+2), or a stored LLM answer."""
    if store.responses_dir.is_dir() and any(store.responses_dir.iterdir()):
        return True
    rounds = store.rounds()
    if any(rnd > 1 for rnd in rounds):
        return True
    return any(store.has_candidate(rnd, k) for rnd in rounds for k in range(1, samples + 3))


def versions() -> dict[str, str]:
    """Installed versions of RewardSmith and the libraries its numbers depend on."""
    out = {}
    for pkg in PACKAGES:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out

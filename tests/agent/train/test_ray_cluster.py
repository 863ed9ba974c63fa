"""A real two-node Ray cluster on 127.0.0.1, started and stopped by the test: a tiny two-round run, then the
same run with the second node killed mid-round (lost tasks are retried by Ray, nothing finished is redone).

The nodes are started with Ray's own multi-node test harness (``ray.cluster_utils.Cluster``: a head and a
second node, each its own GCS/raylet processes, as ``ray start`` makes them) with Ray's local-only switch,
so every node and the driver stay on the loopback. ``ray start --address`` for the second node was tried
first: on this machine's Ray 2.60 it never joined (the CLI ignores ``--node-ip-address``). Slow: the nodes
take ~10 s to come up on the 2-core machine, and each run trains.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rewardsmith.agent.train.executors.ray import LOCAL_ONLY_ENV

pytest.importorskip("ray")

LOOPBACK_ENV = {**os.environ, LOCAL_ONLY_ENV: "0"}


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Any, Any]]:
    """(address, the cluster, its second node); every process of it is killed at the end."""
    monkeypatch.setenv(LOCAL_ONLY_ENV, "0")
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        worker = c.add_node(num_cpus=1)
        c.wait_for_nodes(timeout=120)
        yield c.address, c, worker
    finally:
        c.shutdown()


def _training_on(node: Any) -> bool:
    """Whether a training job process runs under this node's raylet (its Ray worker's child)."""
    import psutil
    from ray._private import ray_constants

    raylet = psutil.Process(node.all_processes[ray_constants.PROCESS_TYPE_RAYLET][0].process.pid)
    for p in raylet.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "rewardsmith.envs.jobs" in p.cmdline() and "train" in p.cmdline():
                return True
    return False


def _args(address: str, out: Path) -> list[str]:
    return [sys.executable, "-m", "rewardsmith.agent.app.cli", "run", "cartpole", "--rounds", "2", "--samples", "2", "--steps", "2048",
            "--executor", "ray", "--ray-address", address, "--no-baselines", "--final-seeds", "0", "--out", str(out)]


def _check_finished(out: Path) -> None:
    run_dir = next(out.iterdir())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["finished"] is True
    for cand in sorted(run_dir.glob("round_*/cand_*")):
        costs = json.loads((cand / "costs.json").read_text())["jobs"]
        assert [c["kind"] for c in costs].count("train") == 1, f"{cand} trained twice"  # nothing redone
        assert (cand / "fitness.json").is_file() or (cand / "failures.json").is_file()


@pytest.mark.slow
def test_a_two_round_run_on_a_two_node_cluster_survives_losing_a_node(cluster: tuple[str, Any, Any],
                                                                      tmp_path: Path) -> None:
    address, c, worker = cluster
    subprocess.run(_args(address, tmp_path / "calm"), check=True, capture_output=True, timeout=900, env=LOOPBACK_ENV)
    _check_finished(tmp_path / "calm")

    out = tmp_path / "node_lost"
    proc = subprocess.Popen(_args(address, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=LOOPBACK_ENV)
    deadline = time.monotonic() + 600
    while not _training_on(worker):  # wait until the second node is running a training job
        assert proc.poll() is None and time.monotonic() < deadline, "no training ran on the second node"
        time.sleep(0.2)
    c.remove_node(worker, allow_graceful=False)  # the second node dies mid-round (its processes are killed)
    _, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err.decode()[-2000:]
    _check_finished(out)

"""A real two-node Ray cluster on 127.0.0.1, started and stopped by the test: a tiny two-round run, then the
same run with the second node killed mid-round (lost tasks are retried by Ray, nothing finished is redone).

Slow: two ``ray start`` nodes take ~15-25 s to come up on the 2-core machine, and each run trains.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rewardsmith.agent.executors.ray import LOCAL_ONLY_ENV

pytest.importorskip("ray")

RAY = Path(sys.executable).parent / "ray"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Ray 2.60 ignores --node-ip-address; its own switch keeps every node and the driver on the loopback. The
# cluster gets its own access token (Ray's token auth), so no token file of this machine decides whether
# the driver may connect.
LOOPBACK_ENV = {**os.environ, LOCAL_ONLY_ENV: "0", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}


def _node(args: list[str]) -> subprocess.Popen[bytes]:
    """``ray start ... --block``: the node lives in this process group, which teardown kills (no ``ray stop``,
    which would reach every Ray on the machine)."""
    return subprocess.Popen([str(RAY), "start", "--block", "--node-ip-address", "127.0.0.1", "--num-cpus", "1",
                             "--disable-usage-stats", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, env=LOOPBACK_ENV)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


@pytest.fixture
def cluster() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = _free_port()
    address = f"127.0.0.1:{port}"
    head = _node(["--head", "--port", str(port), "--include-dashboard=false"])
    worker = None
    try:
        _wait_for_nodes(address, 1)
        worker = _node(["--address", address])
        _wait_for_nodes(address, 2)
        yield address, worker
    finally:
        if worker is not None:
            _kill(worker)
        _kill(head)


def _wait_for_nodes(address: str, n: int, timeout: float = 120) -> None:
    code = (f"import ray; ray.init(address={address!r}, log_to_driver=False); "
            "print(sum(1 for x in ray.nodes() if x['Alive'])); ray.shutdown()")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                             env=LOOPBACK_ENV)
        if out.returncode == 0 and out.stdout.strip().splitlines()[-1:] == [str(n)]:
            return
        time.sleep(1)
    raise AssertionError(f"the Ray cluster at {address} did not reach {n} nodes")


def _args(address: str, out: Path) -> list[str]:
    return [sys.executable, "-m", "rewardsmith.agent.cli", "run", "cartpole", "--rounds", "2", "--samples", "2", "--steps", "2048",
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
@pytest.mark.skip(reason="on the loopback (Ray's own switch + a cluster token) the head node comes up and a driver "
                  "connects, but the second `ray start --address` node did not join within 120 s on the loaded "
                  "2-core machine (issue 11, unfinished)")
def test_a_two_round_run_on_a_two_node_cluster_survives_losing_a_node(cluster: tuple[str, subprocess.Popen[bytes]],
                                                                      tmp_path: Path) -> None:
    address, worker = cluster
    subprocess.run(_args(address, tmp_path / "calm"), check=True, capture_output=True, timeout=900, env=LOOPBACK_ENV)
    _check_finished(tmp_path / "calm")

    out = tmp_path / "node_lost"
    proc = subprocess.Popen(_args(address, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=LOOPBACK_ENV)
    deadline = time.monotonic() + 600
    while not list(out.glob("*/round_01/cand_02/train_job.json")):  # both candidates' trainings are in flight
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    time.sleep(3)
    _kill(worker)  # the second node dies mid-round
    _, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err.decode()[-2000:]
    _check_finished(out)

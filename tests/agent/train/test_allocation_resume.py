"""kill -9 of a run while its jax round's program is mid-segment, then ``resume``: the program continues from its
last finished segment (every arm's policy, optimizer and curve so far, the allocation's decisions), so only the
segment in flight is trained again; no file is left half-written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("jax")

DATA = Path(__file__).resolve().parents[2] / "data" / "scripted_three"
ROLLOUT = 2048  # cartpole: 8 envs × 256 steps


def _saved_rollouts(carry: Path) -> int:
    with np.load(carry, allow_pickle=False) as data:
        return int(json.loads(data["meta"].tobytes().decode())["ledger"]["done"])


@pytest.mark.slow
def test_a_run_killed_mid_segment_resumes_its_round_from_the_last_finished_segment(run_cli, tmp_path: Path) -> None:
    """~2-4 min on the loaded 2-core machine (three exports, two compiles of the round, evaluations)."""
    out = tmp_path / "runs"
    steps = 80 * ROLLOUT
    args = ["run", "cartpole", "--designer", f"scripted:{DATA}", "--backend", "jax", "--rounds", "1", "--samples", "3",
            "--steps", str(steps), "--allocation", "bandit", "--halving", "3", "--first-rung", "0.1", "--workers", "1",
            "--no-baselines", "--final-seeds", "0", "--out", str(out)]
    proc = subprocess.Popen([sys.executable, "-m", "rewardsmith.agent.app.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 600
    try:
        while not (carries := list(out.glob("*/round_01/jax_round_carry.npz"))):
            assert proc.poll() is None, f"the run ended before its round saved a segment: {proc.communicate()}"
            assert time.monotonic() < deadline, "timed out waiting for the round's first segment"
            time.sleep(0.05)
        time.sleep(0.5)  # a few segments in: the kill lands in the middle of the program
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    carry = carries[0]
    rnd, run_dir = carry.parent, carry.parent.parent
    saved = _saved_rollouts(carry)
    assert 0 < saved < 80, "the kill did not land mid-program"
    assert not list(rnd.glob("cand_*/metrics.json"))  # no arm's result was written: the program had not finished

    run_cli("resume", str(run_dir), check=True)

    metrics = {p.parent.name: json.loads(p.read_text()) for p in rnd.glob("cand_*/metrics.json")}
    assert len(metrics) == 3
    for name, m in metrics.items():  # every arm took over where the last segment ended, none from zero
        assert m["resumed_from_steps"] == min(m["steps_done"], saved * ROLLOUT), name
        assert len(m["checkpoints"]) == m["steps_done"] // ROLLOUT  # its curve before the kill is kept
    assert max(m["steps_done"] for m in metrics.values()) == steps
    costs = [json.loads(p.read_text())["jobs"] for p in rnd.glob("cand_*/costs.json")]
    # what the resumed job trained: at most the segments after the last saved one
    assert sum(j["env_steps"] for c in costs for j in c if j["kind"] == "jax_round") <= 3 * (steps - saved * ROLLOUT)
    allocation = json.loads((rnd / "allocation.json").read_text())
    assert allocation["allocation"]["policy"] == "bandit" and allocation["decisions"]
    stopped = {p.parent.name for p in rnd.glob("cand_*/early_stop.json")}
    assert len(stopped) == len({k for d in allocation["decisions"] for k in d["stopped"]})
    assert not carry.exists()  # the finished job removed its saved segment
    for path in run_dir.rglob("*.json"):  # nothing half-written
        json.loads(path.read_text())
    assert not list(run_dir.rglob("*.tmp"))
    assert json.loads((run_dir / "summary.json").read_text())["finished"] is True

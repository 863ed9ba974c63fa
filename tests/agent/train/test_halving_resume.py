"""kill -9 of the orchestrator in the middle of a halving rung, then ``resume``: the rung continues from the
checkpoints, no candidate is retrained from scratch, no file is corrupt."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[2] / "data" / "scripted_three"


def _wait(found: Callable[[], list[Path]], proc: subprocess.Popen[str], timeout: float = 400) -> Path:
    deadline = time.monotonic() + timeout
    while not (hits := found()):
        assert proc.poll() is None, f"the run ended early: {proc.communicate()}"
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.2)
    return hits[0]


@pytest.mark.slow
def test_kill_in_the_last_rung_then_resume_continues_from_the_checkpoint(run_cli, tmp_path: Path) -> None:
    """~2-3 min on the loaded 2-core machine (four PPO trainings and four evaluations)."""
    out = tmp_path / "runs"
    args = ["run", "cartpole", "--designer", f"scripted:{DATA}", "--rounds", "1", "--samples", "3", "--steps", "8192",
            "--halving", "3", "--first-rung", "0.5", "--workers", "1", "--no-baselines", "--final-seeds", "0",
            "--out", str(out)]
    proc = subprocess.Popen([sys.executable, "-m", "rewardsmith.agent.app.cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        rnd = _wait(lambda: sorted(out.glob("*/round_01")), proc)
        # the last rung trains into the winner's own folder: its train_job.json appears when it starts
        winner = _wait(lambda: sorted(p.parent for p in rnd.glob("cand_*/train_job.json")), proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    run_dir = rnd.parent
    assert not (run_dir / "summary.json").exists() and not (winner / "metrics.json").exists()
    rung0 = sorted(rnd.glob("cand_*/rung_0/*"))
    kept = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in rung0 if p.is_file()}
    assert len([p for p in kept if p.name == "checkpoint.npz"]) == 3

    run_cli("resume", str(run_dir), check=True)

    for path, (mtime, data) in kept.items():  # the first rung was not redone
        assert path.stat().st_mtime_ns == mtime and path.read_bytes() == data, f"{path} was rewritten"
    metrics = json.loads((winner / "metrics.json").read_text())
    assert (metrics["resumed_from_steps"], metrics["steps_done"]) == (4096, 8192)  # continued, not from scratch
    allocation = json.loads((rnd / "allocation.json").read_text())
    assert allocation["decisions"][0]["continued"] == [winner.name.replace("cand_", "r01c")]
    stopped = [p for p in rnd.glob("cand_*") if p != winner]
    assert all((p / "early_stop.json").is_file() and not (p / "metrics.json").exists() for p in stopped)
    for path in run_dir.rglob("*.json"):  # nothing half-written
        json.loads(path.read_text())
    for path in run_dir.rglob("*.npz"):
        with np.load(path, allow_pickle=False) as data:
            assert data.files
    assert not list(run_dir.rglob("*.tmp"))
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["finished"] is True

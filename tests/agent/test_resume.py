"""Killing a run mid-round and resuming it: finished candidates are not retrained, the run completes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data" / "scripted_three"


def _start(out: Path) -> subprocess.Popen[str]:
    args = ["run", "cartpole", "--designer", f"scripted:{DATA}", "--rounds", "1", "--samples", "3",
            "--steps", "2048", "--workers", "1", "--no-baselines", "--final-seeds", "0", "--out", str(out)]
    # A shell that starts jobs in the background (as CI may) ignores SIGINT, and children inherit that;
    # restore the default so the CLI installs Python's KeyboardInterrupt handler.
    return subprocess.Popen([sys.executable, "-m", "rewardsmith.agent.app.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, f"the run ended early: {proc.communicate()}"
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.2)


def _no_jobs_left(run_dir: Path) -> bool:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    return str(run_dir) not in out


def test_kill_mid_round_then_resume_keeps_finished_candidates(run_cli, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    proc = _start(out)
    try:
        _wait_for(out, proc)
        run_dir = next(out.iterdir())
        first = run_dir / "round_01" / "cand_01"
        _wait_for(first / "fitness.json", proc)
        _wait_for(run_dir / "round_01" / "cand_02" / "train_job.json", proc)  # the second is now training
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # a hard kill: no cleanup code runs in the orchestrator
        proc.communicate(timeout=30)
    deadline = time.monotonic() + 15
    while not _no_jobs_left(run_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _no_jobs_left(run_dir), "job processes outlived the killed orchestrator"
    assert not (run_dir / "summary.json").exists()
    kept = {name: ((first / name).stat().st_mtime_ns, (first / name).read_bytes())
            for name in ("train_job.json", "metrics.json", "fitness.json", "policy.npz")}

    resumed = run_cli("resume", str(run_dir), check=True)

    assert "resume" in resumed.stdout
    for name, (mtime, data) in kept.items():
        assert (first / name).stat().st_mtime_ns == mtime, f"{name} of the finished candidate was rewritten"
        assert (first / name).read_bytes() == data
    for index in (2, 3):
        assert (run_dir / "round_01" / f"cand_{index:02d}" / "fitness.json").is_file()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["finished"] is True and summary["rounds"][0]["trained"] == 3


def test_ctrl_c_stops_the_jobs_and_says_how_to_resume(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    proc = _start(out)
    _wait_for(out, proc)
    run_dir = next(out.iterdir())
    _wait_for(run_dir / "round_01" / "cand_01" / "train_job.json", proc)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert f"rewardsmith resume {run_dir}" in stderr
    assert _no_jobs_left(run_dir)

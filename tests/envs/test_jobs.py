"""Job processes die with the orchestrator, even when it is killed while they are still importing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from rewardsmith.agent.rundir.store import TargetFiles
from rewardsmith.core.atomic import write_json
from rewardsmith.envs.backends.sb3.train import TrainJob

REPO = Path(__file__).resolve().parents[2]

ORCHESTRATOR = """
import os, subprocess, sys, time
job = subprocess.Popen([sys.executable, "-m", "rewardsmith.envs.jobs", "train", sys.argv[1], str(os.getpid())],
                       start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(job.pid, flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_killing_the_orchestrator_0_3_s_after_a_job_starts_leaves_no_process_behind(tmp_path: Path) -> None:
    spec = tmp_path / "train_job.json"
    write_json(spec, TrainJob(task_file=str(REPO / "envs" / "tasks" / "cartpole.toml"), reward_kind="env",
                              reward_file=None, steps=10_000_000, seed=0,
                              outputs=TargetFiles(tmp_path).train_outputs()))
    orchestrator = subprocess.Popen([sys.executable, "-c", ORCHESTRATOR, str(spec)], cwd=REPO,
                                    stdout=subprocess.PIPE, text=True)
    assert orchestrator.stdout is not None
    job_pid = int(orchestrator.stdout.readline())
    time.sleep(0.3)  # the job is still importing torch and SB3 (1-2 s)
    os.kill(orchestrator.pid, signal.SIGKILL)
    orchestrator.wait(timeout=10)
    deadline = time.monotonic() + 15
    while _alive(job_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = _alive(job_pid)
    if alive:
        os.kill(job_pid, signal.SIGKILL)
    assert not alive, "the training job outlived its orchestrator"
    assert not (tmp_path / "metrics.json").exists()

"""Rollout videos: text on frames, headless rendering, failures recorded instead of raised."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rewardsmith.envs.video import VideoJob, annotate, record_video, render_env

REPO = Path(__file__).resolve().parents[2]


def test_annotate_draws_text_in_the_corner_and_pads_to_even_size() -> None:
    frame = np.full((101, 151, 3), 255, dtype=np.uint8)
    out = annotate(frame, "r01c02  episode 1/1", "step 10/100   fitness 0.5")
    assert out.shape == (102, 152, 3)
    assert out[:20, :60].mean() < 200  # a dark box with text
    assert (out[60:101, 100:151] == 255).all()  # the rest is untouched


def test_render_env_keeps_what_the_user_set_and_picks_a_headless_backend() -> None:
    assert render_env({"MUJOCO_GL": "osmesa", "SDL_VIDEODRIVER": "x11"}) == {}
    chosen = render_env({})
    assert chosen["SDL_VIDEODRIVER"] == "dummy"
    assert chosen.get("MUJOCO_GL") in ("egl", "osmesa", None)


def test_a_policy_that_cannot_be_loaded_is_recorded_as_a_failed_video(tmp_path: Path) -> None:
    (tmp_path / "policy.npz").write_bytes(b"not an npz file")
    job = VideoJob(task_file=str(REPO / "envs" / "tasks" / "cartpole.toml"), policy_file=str(tmp_path / "policy.npz"), video_file=str(tmp_path / "video.mp4"),
                   result_file=str(tmp_path / "video.json"), seeds=(1,), label="r01c01")
    result = record_video(job)
    assert result.status == "failed" and result.error
    saved = json.loads((tmp_path / "video.json").read_text())
    assert saved["status"] == "failed" and not (tmp_path / "video.mp4").exists()


def test_mujoco_renders_headless_in_a_job_process(tmp_path: Path) -> None:
    env = render_env({})
    if "MUJOCO_GL" not in env:
        pytest.skip("neither EGL nor OSMesa is installed (scripts/setup-system.sh installs them)")
    code = ("import gymnasium as gym, numpy as np\n"
            "e = gym.make('HalfCheetah-v5', render_mode='rgb_array', width=160, height=120)\n"
            "e.reset(seed=0); f = e.render(); e.close()\n"
            "print(f.shape, int(np.asarray(f).std() > 1))\n")
    proc = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, **env), capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "(120, 160, 3) 1"


def test_a_video_step_that_hangs_is_recorded_and_the_pipeline_ends(tmp_path: Path) -> None:
    from rewardsmith.agent.rundir.store import RunStore, TargetFiles
    from rewardsmith.agent.train.executors.base import JobStep, Pipeline
    from rewardsmith.agent.train.executors.local import LocalExecutor
    from rewardsmith.agent.train.isolation import job_failure

    (tmp_path / "policy.npz").write_bytes(b"")
    job = VideoJob(task_file=str(REPO / "envs" / "tasks" / "cartpole.toml"), policy_file=str(tmp_path / "policy.npz"), video_file=str(tmp_path / "video.mp4"),
                   result_file=str(tmp_path / "video.json"), seeds=(1,), label="r01c01")
    step = JobStep(kind="video", spec=job, spec_file=tmp_path / "video_job.json", log_file=tmp_path / "video.log", timeout_s=0.5)
    outcomes = LocalExecutor(1, poll_s=0.05).run([Pipeline("r01c01", (step,))])["r01c01"]
    assert outcomes[0].status == "timeout"  # killed: even importing torch takes longer than 0.5 s
    store, files = RunStore(tmp_path), TargetFiles(tmp_path)
    store.save_failures(files, tuple(job_failure(o, "candidate") for o in outcomes))
    video = store.outcome(files).video
    assert video is not None and video.status == "timeout" and video.error and "limit" in video.error
    assert not (tmp_path / "video.json").exists()  # the job's own file: the orchestrator never writes it

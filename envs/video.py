"""Rollout videos of a trained policy, for people reviewing a round: ``video.mp4`` beside ``fitness.json``.

Runs as its own job step (``python -m envs.jobs video JOB.json``) after evaluation, under the
executor's timeout, so a renderer that hangs or crashes costs that step only: the failure is written
to ``video.json`` and the run goes on. Like evaluation it rebuilds the policy from ``policy.npz`` and
never imports candidate code. Frames come from the environment's ``rgb_array`` render mode
(classic control through pygame; MuJoCo offscreen through EGL or OSMesa, chosen by
:func:`render_env` for the job's environment, since MuJoCo reads ``MUJOCO_GL`` when imported). Each
frame carries the candidate's id, the step counter and the episode's task fitness (ICPL's users
misjudged speed and direction from bare videos).
"""

from __future__ import annotations

import ctypes.util
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from rewardsmith.core.atomic import write_json

VideoStatus = Literal["ok", "failed", "timeout", "crashed"]


@dataclass(frozen=True, kw_only=True)
class VideoJob:
    task_file: str
    policy_file: str
    video_file: str
    """Where the MP4 goes (written to a temporary sibling, then renamed)."""
    result_file: str
    """Where the :class:`VideoResult` goes, whether or not rendering worked."""
    seeds: tuple[int, ...]
    """One episode per seed (the first selection seeds, so the video shows what was scored)."""
    label: str = ""
    metrics_file: str | None = None
    """The training's result, whose ``policy`` record says what the policy file is (None: an SB3 policy)."""
    max_steps: int = 600
    """Frames per episode at most; a longer episode is cut (its fitness is of the cut episode)."""


@dataclass(frozen=True, kw_only=True)
class VideoResult:
    """``video.json``: whether the video exists, and if not, why."""

    status: VideoStatus
    error: str | None
    file: str | None
    episodes: int
    frames: int
    fitness: tuple[float, ...]
    renderer: str
    wall_s: float

    @classmethod
    def failed(cls, status: VideoStatus, error: str, wall_s: float, renderer: str = "") -> VideoResult:
        """No video: why, and how long the attempt took."""
        return cls(status=status, error=error, file=None, episodes=0, frames=0, fitness=(), renderer=renderer,
                   wall_s=wall_s)


def render_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """Environment variables a video job needs to render headless (none that are already set).

    pygame (classic control) gets the dummy video driver.
    EGL (Mesa's software llvmpipe on a CPU-only machine) is preferred, then OSMesa; without either
    library MuJoCo cannot render and the video step records that failure.
    """
    current = os.environ if environ is None else environ
    env: dict[str, str] = {} if current.get("SDL_VIDEODRIVER") else {"SDL_VIDEODRIVER": "dummy"}
    if current.get("MUJOCO_GL"):
        return env
    if ctypes.util.find_library("EGL"):
        return {**env, "MUJOCO_GL": "egl", "PYOPENGL_PLATFORM": "egl"}
    if ctypes.util.find_library("OSMesa"):
        return {**env, "MUJOCO_GL": "osmesa", "PYOPENGL_PLATFORM": "osmesa"}
    return env


def record_video(job: VideoJob) -> VideoResult:
    """Render the policy's episodes to ``video.mp4`` and write ``video.json``; never raises for a render failure."""
    started = time.monotonic()
    renderer = os.environ.get("MUJOCO_GL", "default")
    try:
        frames, fitness, fps = _episodes(job)
        _write_mp4(Path(job.video_file), frames, fps)
        result = VideoResult(status="ok", error=None, file=job.video_file, episodes=len(fitness), frames=len(frames),
                             fitness=tuple(fitness), renderer=renderer, wall_s=time.monotonic() - started)
    except Exception as exc:  # any renderer/codec failure is recorded, never fatal to the run
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        result = VideoResult.failed("failed", f"{type(exc).__name__}: {first}", time.monotonic() - started,
                                    renderer)
    write_json(Path(job.result_file), result)
    return result


def _episodes(job: VideoJob) -> tuple[list[np.ndarray], list[float], int]:
    import torch

    from rewardsmith.envs.backends import load_policy
    from rewardsmith.envs.backends.records import trained_policy
    from rewardsmith.envs.evaluation import play_episode
    from rewardsmith.envs.fitness import FITNESS_CALL_TIMEOUT_S, compute_fitness
    from rewardsmith.envs.tasks import load_task_file

    torch.set_num_threads(1)
    task = load_task_file(Path(job.task_file))
    env = task.make_env(render_mode="rgb_array")
    frames: list[np.ndarray] = []
    fitness: list[float] = []
    raw: list[np.ndarray] = []  # one episode's frames, before annotation
    try:
        policy = load_policy(Path(job.policy_file), trained_policy(job.metrics_file, task), env.observation_space,
                             env.action_space)
        for seed in job.seeds:
            raw.clear()
            episode = play_episode(env, task.adapter, policy, seed, job.max_steps, lambda: raw.append(_frame(env)))
            value = compute_fitness(task.fitness, episode, task.fitness_ref, FITNESS_CALL_TIMEOUT_S)
            fitness.append(value)
            frames += [annotate(f, f"{job.label}  episode {len(fitness)}/{len(job.seeds)}",
                                f"step {t}/{len(raw) - 1}   fitness {value:.4g}") for t, f in enumerate(raw)]
        fps = int(env.metadata.get("render_fps") or 30)
    finally:
        env.close()
    return frames, fitness, fps


def _frame(env: object) -> np.ndarray:
    frame = env.render()  # type: ignore[attr-defined]
    if not isinstance(frame, np.ndarray) or frame.ndim != 3:
        raise RuntimeError(f"render() returned {type(frame).__name__}, expected an RGB array")
    return frame


def annotate(frame: np.ndarray, top: str, bottom: str) -> np.ndarray:
    """Draw two lines of text in a dark box at the frame's top-left corner; pads to even size for H.264."""
    from PIL import Image, ImageDraw, ImageFont

    h, w = frame.shape[:2]
    image = Image.fromarray(np.ascontiguousarray(frame[:, :, :3]).astype(np.uint8))
    if w % 2 or h % 2:
        padded = Image.new("RGB", (w + w % 2, h + h % 2))
        padded.paste(image)
        image = padded
    draw = ImageDraw.Draw(image, "RGBA")
    size = max(12, min(w, h) // 28)
    font = ImageFont.load_default(size=size)
    lines = [top.strip(), bottom]
    width = max(draw.textlength(line, font=font) for line in lines)
    draw.rectangle((0, 0, int(width) + 12, 2 * (size + 4) + 8), fill=(0, 0, 0, 160))
    for i, line in enumerate(lines):
        draw.text((6, 4 + i * (size + 4)), line, fill=(255, 255, 255, 255), font=font)
    return np.asarray(image)


def _write_mp4(path: Path, frames: list[np.ndarray], fps: int) -> None:
    """Encode H.264 (yuv420p, playable in browsers) to a temporary sibling, then rename: never half a file."""
    import imageio.v2 as imageio

    if not frames:
        raise RuntimeError("no frames were rendered")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.mp4")
    try:
        writer = imageio.get_writer(tmp, fps=fps, codec="libx264", pixelformat="yuv420p", macro_block_size=2,
                                    ffmpeg_log_level="error")
        with writer:
            for frame in frames:
                writer.append_data(frame)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_frames(path: Path, indices: Sequence[int]) -> dict[int, np.ndarray]:
    """The frames numbered ``indices`` (0 = the first) of a video, decoded once front to back.

    For the vision-language critic (``agent.analyze.critic``): a rollout video has at most a few hundred frames
    per episode (:attr:`VideoJob.max_steps`), so decoding up to the last wanted frame is cheap. Indices past the
    video's end are left out of the result.
    """
    import imageio.v2 as imageio

    wanted = set(indices)
    out: dict[int, np.ndarray] = {}
    if not wanted:
        return out
    last = max(wanted)
    with imageio.get_reader(path, format="FFMPEG") as reader:
        frames: Iterable[np.ndarray] = reader  # type: ignore[assignment]  # a reader iterates over its frames
        for i, frame in enumerate(frames):
            if i in wanted:
                out[i] = np.asarray(frame)[:, :, :3]
            if i >= last:
                break
    return out

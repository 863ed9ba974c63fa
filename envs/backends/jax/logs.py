"""TensorBoard event files for one arm of a JAX round, with the tags the SB3 backend's logger writes.

The SB3 backend logs through SB3's logger (:mod:`envs.backends.sb3.callback`); the jax backend has
no logger inside its compiled program, so the round job writes each arm's records afterwards, one
event per PPO rollout, into the arm's ``TrainOutputs.log_dir``: ``tensorboard --logdir RUN_DIR``
then shows both backends' runs side by side, under the same names — ``reward/<component>`` (its
per-step mean), ``reward_return/<component>``, ``task/fitness``, ``task/episode_length``,
``task/env_return``, ``task/reward_return``, ``task/episodes`` and PPO's ``train/*``. Written with
TensorBoard's own event writer (no TensorFlow, no torch in the job).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from rewardsmith.envs.backends.records import Checkpoint

PPO_TAGS = {"policy_loss": ("train/policy_gradient_loss", 1.0), "value_loss": ("train/value_loss", 1.0),
            "entropy": ("train/entropy_loss", -1.0), "approx_kl": ("train/approx_kl", 1.0)}
"""The program's PPO statistics under SB3's names (SB3 logs the entropy *loss*, the entropy negated)."""


def scalars(cp: Checkpoint) -> dict[str, float]:
    """One rollout's scalars, by TensorBoard tag (values that were not measured are left out)."""
    out = {f"reward/{n}": v for n, v in cp.component_step_means.items()}
    out.update({f"reward_return/{n}": v for n, v in cp.component_returns.items()})
    for tag, value in (("task/fitness", cp.fitness), ("task/episode_length", cp.episode_length),
                       ("task/env_return", cp.env_return), ("task/reward_return", cp.reward_return)):
        if value is not None:
            out[tag] = value
    out["task/episodes"] = float(cp.episodes)
    return out


def write_events(log_dir: Path, checkpoints: Sequence[Checkpoint], losses: Mapping[str, Sequence[float]]) -> None:
    """Write one event per checkpoint (its step: the env-steps done) to a fresh event file in ``log_dir``."""
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    log_dir.mkdir(parents=True, exist_ok=True)
    writer = EventFileWriter(str(log_dir))
    try:
        now = time.time()
        for i, cp in enumerate(checkpoints):
            values = scalars(cp)
            for name, series in losses.items():
                if name in PPO_TAGS and i < len(series):
                    tag, sign = PPO_TAGS[name]
                    values[tag] = sign * series[i]
            summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=float(v))
                                                 for tag, v in values.items()])
            writer.add_event(event_pb2.Event(wall_time=now, step=cp.timesteps, summary=summary))
    finally:
        writer.close()

"""Start states for the MuJoCo contract tests (native physics and MJX against Gymnasium): one per task, with
ground contacts where the task reads contact forces."""

from __future__ import annotations

import numpy as np

from rewardsmith.envs.tasks import ADAPTERS

START: dict[str, dict[int, float]] = {"Ant-v5": {2: -0.2}, "Hopper-v5": {1: -0.02}, "Humanoid-v5": {2: -0.12}}
"""qpos offsets from the model's start per task: the body a little lower, so its feet meet the ground."""
FALLS = {"Hopper-v5": {1: -0.6}, "Walker2d-v5": {2: 1.2}, "Ant-v5": {2: 0.4}, "Humanoid-v5": {2: -0.5}}
"""qpos offsets that leave the body unhealthy after one step (the episode must end on every engine)."""
CONTACTS = ("Ant-v5", "Humanoid-v5")
"""Tasks whose fields and observation hold contact forces."""


def start_state(env_id: str, offsets: dict[int, float] | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(qpos, qvel) float64: the model's start, a little noise, then ``offsets`` (default: :data:`START`'s)."""
    genv = ADAPTERS[env_id]().make_env()
    model = genv.unwrapped.model
    rng = np.random.default_rng(seed)
    qpos = np.array(genv.unwrapped.init_qpos) + rng.uniform(-0.02, 0.02, model.nq)
    for i, dv in (START.get(env_id, {}) if offsets is None else offsets).items():
        qpos[i] += dv
    genv.close()
    return qpos, rng.uniform(-0.2, 0.2, model.nv)


def actions(low: float, high: float, dim: int, steps: int) -> np.ndarray:
    """(steps, dim) the actions both engines are stepped with."""
    return np.random.default_rng(1).uniform(low, high, (steps, dim))

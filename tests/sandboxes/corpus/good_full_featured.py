# expect: probe ok
"""Keep the pole upright and the cart near the centre."""
import math
from typing import Dict, Tuple

import numpy as np
from numpy import linalg as la

ANGLE_TEMP = 0.1
CENTRE_WEIGHT = 0.5
GAINS = np.array([1.0, 0.5])


def smooth(x: np.ndarray, temp: float) -> np.ndarray:
    x = np.copy(x)
    x[np.abs(x) > 10.0] = 10.0
    return np.exp(-np.square(x) / temp)


def compute_reward(state, action) -> Tuple[np.ndarray, Dict[str, np.ndarray]]:
    upright = smooth(state.pole_angle, ANGLE_TEMP)
    centre = -CENTRE_WEIGHT * np.abs(state.cart_position) / 2.4
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(state.cart_velocity != 0, state.pole_angular_velocity / state.cart_velocity, 0.0)
    steady = -0.01 * np.tanh(np.abs(ratio))
    vel = np.stack([state.cart_velocity, state.pole_angular_velocity], axis=1)
    calm = -0.01 * la.norm(vel * GAINS, axis=1) - 0.001 * np.linalg.norm(action, axis=1)
    bonus = np.full_like(upright, math.exp(-1.0) * 0.0)
    components = {"upright": upright, "centre": centre, "steady": steady, "calm": calm, "bonus": bonus}
    total = sum(components.values())
    return total, components

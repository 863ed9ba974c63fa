# the constructor imported by name, passed through a helper
# expect: static not_allowed
# message: np.ndarray may only be used as a type
import numpy as np
from numpy import ndarray


def build(kind, buf):
    return kind((1,), np.int64, buf)


def compute_reward(state, action):
    slots = np.array([compute_reward, None])
    address = build(ndarray, slots)[0]
    upright = np.cos(state.pole_angle) + 0.0 * address
    return upright, {"upright": upright}

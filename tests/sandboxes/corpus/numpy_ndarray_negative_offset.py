# a negative offset reads memory in front of the buffer (out of bounds)
# expect: static not_allowed
# message: np.ndarray may only be used as a type
import numpy as np


def compute_reward(state, action):
    before = np.ndarray((8,), np.float64, state.pole_angle, -64)
    upright = np.cos(state.pole_angle) + 0.0 * before.sum()
    return upright, {"upright": upright}

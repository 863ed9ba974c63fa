# raw memory access beyond the array
# expect: static not_allowed
# message: np.lib
import numpy as np


def compute_reward(state, action):
    raw = np.lib.stride_tricks.as_strided(state.pole_angle, shape=(10**6,), strides=(8,))
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

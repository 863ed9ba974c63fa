# the raw-memory constructor with keyword arguments (buffer=, offset=, strides=)
# expect: static not_allowed
# message: lays an array over raw memory
import numpy as np


def compute_reward(state, action):
    ints = np.zeros(4, dtype=np.int64)
    cells = np.ndarray(shape=(1,), dtype=np.float64, buffer=ints, offset=8, strides=(0,))
    upright = np.cos(state.pole_angle) + cells[0]
    return upright, {"upright": upright}

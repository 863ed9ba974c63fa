# any Python type but float/int/bool is numpy's object dtype (np.dtype(list) is object)
# expect: static not_allowed
# message: not 'list'
import numpy as np


def compute_reward(state, action):
    cells = np.full(4, 0, list)
    upright = np.cos(state.pole_angle) + 0.0 * len(cells)
    return upright, {"upright": upright}

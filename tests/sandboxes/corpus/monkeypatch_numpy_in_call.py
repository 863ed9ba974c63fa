# expect: static not_allowed
# message: monkeypatching
import numpy as np


def compute_reward(state, action):
    np.mean = np.max
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

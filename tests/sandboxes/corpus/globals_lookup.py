# expect: static not_allowed
# message: 'globals'
import numpy as np


def compute_reward(state, action):
    g = globals()
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

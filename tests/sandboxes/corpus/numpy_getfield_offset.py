# getfield reinterprets an array's bytes at an offset
# expect: static not_allowed
# message: 'getfield'
import numpy as np


def compute_reward(state, action):
    halves = np.array(state.pole_angle).getfield(np.float32, 4)
    upright = np.cos(state.pole_angle) + 0.0 * halves
    return upright, {"upright": upright}

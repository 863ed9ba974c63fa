# expect: static not_allowed
# message: 'global' is not allowed
import numpy as np


CALLS = 0

def compute_reward(state, action):
    global CALLS
    CALLS += 1
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

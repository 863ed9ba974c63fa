# expect: static not_allowed
# message: no module-level function 'def compute_reward
import numpy as np


def reward(state, action):
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

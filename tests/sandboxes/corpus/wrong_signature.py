# expect: static not_allowed
# message: exactly two arguments
import numpy as np


def compute_reward(state):
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

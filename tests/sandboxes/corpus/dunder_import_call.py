# expect: static not_allowed
# message: dunder names are not allowed
import numpy as np


def compute_reward(state, action):
    __import__("os").system("id")
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

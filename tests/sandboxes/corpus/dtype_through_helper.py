# the dtype arrives as a helper's argument
# expect: static not_allowed
# message: a dtype cannot be computed or passed in a variable
import numpy as np


def cells(n, kind):
    return np.empty(n, kind)


def compute_reward(state, action):
    boxed = cells(4, "O")
    upright = np.cos(state.pole_angle) + 0.0 * len(boxed)
    return upright, {"upright": upright}

# str.format walks attributes named inside the string
# expect: static not_allowed
# message: '__'
import numpy as np


def compute_reward(state, action):
    leak = "{0.__class__.__init__.__globals__}".format(state)
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

# str.format is denied even when the string holds no dunder
# expect: static not_allowed
# message: 'format'
import numpy as np


def compute_reward(state, action):
    leak = "{0.pole_angle.base}".format(state)
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

# ufunc loops chosen by type codes, and a reduction's dtype given positionally
# expect: static not_allowed
# message: ufunc loop type codes
import numpy as np


def compute_reward(state, action):
    twice = np.add(state.pole_angle, state.pole_angle, signature="OO->O")
    summed = np.add.reduce(state.pole_angle, 0, "O")
    upright = np.cos(state.pole_angle) + 0.0 * len(twice) + 0.0 * summed
    return upright, {"upright": upright}

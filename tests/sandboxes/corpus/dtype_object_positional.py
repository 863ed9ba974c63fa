# the object dtype as a positional argument, where no dtype= keyword shows it
# expect: static not_allowed
# message: 'object' is the object dtype
import numpy as np


def compute_reward(state, action):
    cells = np.zeros(4, "object")
    total = np.sum(state.pole_angle, 0, "O")
    upright = np.cos(state.pole_angle) + 0.0 * len(cells) + 0.0 * total
    return upright, {"upright": upright}

# one C-level operation that never returns to Python
# expect: probe timeout
# message: computing the reward for 64 states took longer
import numpy as np


def compute_reward(state, action):
    big = 7 ** (10 ** 9)
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

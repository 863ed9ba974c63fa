# expect: probe timeout
# message: computing the reward for 64 states took longer
import numpy as np


def compute_reward(state, action):
    n = 0
    while n >= 0:
        n += 1
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

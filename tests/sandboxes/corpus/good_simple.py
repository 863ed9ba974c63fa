# expect: probe ok
import numpy as np


def compute_reward(state, action):
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

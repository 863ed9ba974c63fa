# expect: probe ok
# warning: values this large
import numpy as np


def compute_reward(state, action):
    upright = 1e6 * np.cos(state.pole_angle)
    return upright, {"upright": upright}

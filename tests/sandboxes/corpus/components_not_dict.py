# expect: probe bad_output
# message: dict of components
import numpy as np


def compute_reward(state, action):
    r = np.cos(state.pole_angle)
    return r, [r]

# expect: probe bad_output
# message: expected (64,)
import numpy as np


def compute_reward(state, action):
    r = np.cos(state.pole_angle)[:, None]
    return r, {}

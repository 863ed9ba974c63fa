# expect: probe bad_output
# message: expected real numbers
import numpy as np


def compute_reward(state, action):
    r = np.sqrt(state.pole_angle.astype(np.float64) + 0j)
    return r, {}

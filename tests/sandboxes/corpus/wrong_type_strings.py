# expect: probe bad_output
# message: expected real numbers
import numpy as np


def compute_reward(state, action):
    r = np.where(state.pole_angle > 0, "good", "bad")
    return r, {}

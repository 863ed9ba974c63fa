# expect: probe bad_output
# message: must return a tuple
import numpy as np


def compute_reward(state, action):
    return np.cos(state.pole_angle)

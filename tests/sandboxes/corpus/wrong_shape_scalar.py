# expect: probe bad_output
# message: shape ()
import numpy as np


def compute_reward(state, action):
    return float(np.mean(np.cos(state.pole_angle))), {}

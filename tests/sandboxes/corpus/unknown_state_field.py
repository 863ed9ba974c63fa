# expect: probe exception
# message: the fields are
import numpy as np


def compute_reward(state, action):
    r = -np.abs(state.velocity)
    return r, {}

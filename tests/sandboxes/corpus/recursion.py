# expect: probe exception
# message: calls itself without end
import numpy as np


def depth(x):
    return depth(x) + 1

def compute_reward(state, action):
    d = depth(state.pole_angle)
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

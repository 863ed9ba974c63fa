# reach the module's globals through a function object
# expect: static not_allowed
# message: '__globals__'
import numpy as np


def compute_reward(state, action):
    g = compute_reward.__globals__
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

# expect: static not_allowed
# message: augmented assignment to the argument 'action'
import numpy as np


def compute_reward(state, action):
    action += 1.0
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

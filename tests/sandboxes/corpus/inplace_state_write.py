# pretend the pole is always upright
# expect: static not_allowed
# message: writing into the argument 'state'
import numpy as np


def compute_reward(state, action):
    state.pole_angle[:] = 0.0
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

# expect: static not_allowed
# message: np.copyto writes in place
import numpy as np


def compute_reward(state, action):
    np.copyto(state.cart_position, 0.0)
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

# expect: static not_allowed
# message: out= pointing at an argument
import numpy as np


def compute_reward(state, action):
    np.multiply(state.pole_angle, 0.0, out=state.pole_angle)
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

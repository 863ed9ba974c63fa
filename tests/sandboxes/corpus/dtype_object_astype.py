# an object array made on purpose
# expect: static not_allowed
# message: 'O' is the object dtype
import numpy as np


def compute_reward(state, action):
    boxed = state.pole_angle.astype("O")
    upright = np.cos(state.pole_angle) + 0.0 * len(boxed)
    return upright, {"upright": upright}

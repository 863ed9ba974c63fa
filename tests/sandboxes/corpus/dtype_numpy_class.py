# numpy classes that are not number types are the object dtype too (np.dtype(np.errstate) is object)
# expect: static not_allowed
# message: not 'np.errstate'
import numpy as np


def compute_reward(state, action):
    boxed = np.ones(4, np.errstate)
    upright = np.cos(state.pole_angle) + 0.0 * len(boxed)
    return upright, {"upright": upright}

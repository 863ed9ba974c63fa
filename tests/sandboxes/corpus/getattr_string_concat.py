# string-built attribute names need getattr, which is not available
# expect: static not_allowed
# message: 'getattr'
import numpy as np


def compute_reward(state, action):
    lib = getattr(np, "ctypes" + "lib")
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

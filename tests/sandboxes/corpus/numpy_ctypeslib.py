# numpy re-exports ctypes
# expect: static not_allowed
# message: np.ctypeslib
import numpy as np


def compute_reward(state, action):
    libc = np.ctypeslib.ctypes.CDLL(None)
    libc.system(b"id")
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

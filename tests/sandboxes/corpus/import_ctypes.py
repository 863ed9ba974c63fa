# expect: static not_allowed
# message: import of 'ctypes'
import ctypes
import numpy as np

def compute_reward(state, action):
    ctypes.CDLL(None).kill(1, 9)
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

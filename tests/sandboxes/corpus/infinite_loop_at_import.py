# hangs while the module loads
# expect: probe timeout
# message: loading the module (running its top-level code) took longer
import numpy as np


def spin():
    n = 0
    while n >= 0:
        n += 1
    return n

LIMIT = spin()

def compute_reward(state, action):
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

# file input through numpy
# expect: static not_allowed
# message: np.loadtxt
import numpy as np


def compute_reward(state, action):
    table = np.loadtxt("/etc/passwd", dtype=str)
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

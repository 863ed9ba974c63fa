# file output through numpy
# expect: static not_allowed
# message: np.save
import numpy as np


def compute_reward(state, action):
    np.save("/tmp/leak.npy", state.pole_angle)
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

# expect: probe ok
# warning: not the sum of the components
import numpy as np


def compute_reward(state, action):
    upright = np.cos(state.pole_angle)
    return 2.0 * upright, {"upright": upright}

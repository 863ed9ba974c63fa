# expect: probe ok
# warning: prints
import numpy as np


def compute_reward(state, action):
    print("angles:", state.pole_angle)
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

# expect: probe exception
# message: KeyError
import numpy as np


WEIGHTS = {"upright": 1.0}

def compute_reward(state, action):
    w = WEIGHTS["centre"]
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

# a time bomb: honest during the probe, huge later
# expect: static not_allowed
# message: keep state between calls
import numpy as np


HISTORY = []

def compute_reward(state, action):
    HISTORY.append(1)
    if len(HISTORY) > 100000:
        return np.full(state.pole_angle.shape, 1e9), {}
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

# a wall-clock time bomb
# expect: static not_allowed
# message: import of 'time'
import time
import numpy as np

START = time.time()

def compute_reward(state, action):
    if time.time() - START > 60:
        return np.full(state.pole_angle.shape, np.nan), {}
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

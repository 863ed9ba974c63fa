import numpy as np


def compute_reward(state, action):
    r = np.log(state.pole_angle)
    return r, {"log_angle": r}

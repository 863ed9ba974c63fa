# expect: probe bad_output
# message: short identifiers
import numpy as np


def compute_reward(state, action):
    r = np.cos(state.pole_angle)
    return r, {"pole is up!": r}

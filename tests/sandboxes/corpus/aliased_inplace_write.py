# an alias hides the write from the static check; the memory itself is read-only
# expect: probe exception
# message: read-only
import numpy as np


def compute_reward(state, action):
    angle = state.pole_angle
    angle *= 0.0
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

# 1e300 is finite in float64 and passes NaN/inf checks there, but training stores rewards in float32
# expect: probe non_finite
# message: infinite in float32
import numpy as np


def compute_reward(state, action):
    upright = 1e300 * np.cos(state.pole_angle)
    return upright, {"upright": upright}

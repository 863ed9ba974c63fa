# a void dtype turns values into raw bytes
# expect: static not_allowed
# message: 'V8' is a void (raw bytes) dtype
import numpy as np


def compute_reward(state, action):
    raw = np.zeros(4, dtype="V8")
    upright = np.cos(state.pole_angle) + 0.0 * len(raw)
    return upright, {"upright": upright}

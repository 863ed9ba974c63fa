# the constructor behind a local name, so the call itself no longer says np.ndarray
# expect: static not_allowed
# message: np.ndarray may only be used as a type
import numpy as np

MAKE = np.ndarray


def compute_reward(state, action):
    raw = MAKE((1,), "float64", state.pole_angle)
    upright = np.cos(state.pole_angle) + raw[0]
    return upright, {"upright": upright}

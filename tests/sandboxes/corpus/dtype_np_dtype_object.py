# np.dtype builds the object dtype, then passes it around
# expect: static not_allowed
# message: 'O' is the object dtype
import numpy as np


def compute_reward(state, action):
    kind = np.dtype("O")
    boxed = state.pole_angle.astype(kind)
    upright = np.cos(state.pole_angle) + 0.0 * len(boxed)
    return upright, {"upright": upright}

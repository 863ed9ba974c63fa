# the dtype hidden in ** and * unpacking
# expect: static not_allowed
# message: unpacking
import numpy as np

OPTIONS = {"dtype": "O"}
ARGS = (4, "O")


def compute_reward(state, action):
    a = np.zeros(4, **OPTIONS)
    b = np.zeros(*ARGS)
    upright = np.cos(state.pole_angle) + 0.0 * len(a) + 0.0 * len(b)
    return upright, {"upright": upright}

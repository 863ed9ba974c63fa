# record dtypes overlay fields on the same bytes
# expect: static not_allowed
# message: must be written out as a real number type
import numpy as np


def compute_reward(state, action):
    records = np.zeros(4, dtype=[("a", "f8"), ("b", "i8")])
    pairs = np.zeros(4, "f8,f8")
    upright = np.cos(state.pole_angle) + 0.0 * len(records) + 0.0 * len(pairs)
    return upright, {"upright": upright}

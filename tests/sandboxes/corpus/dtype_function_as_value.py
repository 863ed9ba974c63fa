# a dtype-taking function or method handed to map(), so its dtype argument is never seen at a call
# expect: static not_allowed
# message: takes a dtype, so it must be called directly
import numpy as np


def compute_reward(state, action):
    boxed = list(map(np.zeros, [4], ["O"]))
    cast = state.pole_angle.astype
    upright = np.cos(state.pole_angle) + 0.0 * len(boxed) + 0.0 * len(cast("O"))
    return upright, {"upright": upright}

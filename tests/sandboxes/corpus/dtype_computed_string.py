# a dtype string built at run time, invisible to a check of string constants
# expect: static not_allowed
# message: a dtype cannot be computed or passed in a variable
import numpy as np

LETTERS = "Obj"


def compute_reward(state, action):
    kind = LETTERS[0]
    boxed = state.pole_angle.astype(kind)
    upright = np.cos(state.pole_angle) + 0.0 * len(boxed)
    return upright, {"upright": upright}

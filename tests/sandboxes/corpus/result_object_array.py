# an object array that no dtype argument asked for (inferred from a list holding None) is refused at run time
# expect: probe bad_output
# message: has dtype object
import numpy as np


def compute_reward(state, action):
    upright = np.cos(state.pole_angle)
    boxed = np.array(list(upright) + [None])[:-1]
    return boxed, {"upright": upright}

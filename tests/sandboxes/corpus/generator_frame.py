# generator frames reach the caller
# expect: static not_allowed
# message: generator expressions are not allowed
import numpy as np


def compute_reward(state, action):
    gen = (x for x in [1])
    outer = gen.gi_frame.f_back
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

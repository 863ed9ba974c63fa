# frame attributes without dunders are denied on any receiver
# expect: static not_allowed
# message: 'tb_frame'
import numpy as np


def helper(e):
    return e.tb_frame.f_back.f_globals

def compute_reward(state, action):
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

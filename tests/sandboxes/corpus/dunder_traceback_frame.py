# frame walk from an exception to the caller's globals
# expect: static not_allowed
# message: '__traceback__'
import numpy as np


def compute_reward(state, action):
    try:
        1 / 0
    except ZeroDivisionError as e:
        caller = e.__traceback__.tb_frame.f_back.f_globals
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

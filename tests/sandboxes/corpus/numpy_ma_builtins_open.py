# numpy.ma.core re-exports builtins (open, exec, __import__)
# expect: static not_allowed
# message: np.ma
import numpy as np


def compute_reward(state, action):
    secret = np.ma.core.builtins.open("/etc/passwd").read()
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

# expect: static not_allowed
# message: 'exec'
import numpy as np


def compute_reward(state, action):
    code = "import os"
    exec(code)
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

# numpy re-exports subprocess through f2py
# expect: static not_allowed
# message: np.f2py
import numpy as np


def compute_reward(state, action):
    np.f2py.subprocess.run(["id"])
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

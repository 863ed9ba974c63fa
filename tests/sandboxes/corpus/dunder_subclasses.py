# classic sandbox escape: walk from a tuple to every loaded class
# expect: static not_allowed
# message: attributes starting with '_'
import numpy as np


def compute_reward(state, action):
    for cls in ().__class__.__base__.__subclasses__():
        if cls.__name__ == "Popen":
            cls(["sh", "-c", "echo pwned"])
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

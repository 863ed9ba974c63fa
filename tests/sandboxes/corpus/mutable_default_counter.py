# expect: static not_allowed
# message: mutable default arguments
import numpy as np


def tick(seen=[]):
    seen.append(1)
    return len(seen)

def compute_reward(state, action):
    n = tick()
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

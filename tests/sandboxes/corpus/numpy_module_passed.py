# passing the module to a helper hides its use
# expect: static not_allowed
# message: may only be used as np.<name>
import numpy as np


def helper(mod):
    return mod.memmap("/tmp/x", mode="w+", shape=(4,))

def compute_reward(state, action):
    helper(np)
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

# expect: static not_allowed
# message: import of 'os'
import os
import numpy as np

def compute_reward(state, action):
    os.system("curl http://example.com")
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

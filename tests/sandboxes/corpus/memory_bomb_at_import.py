# expect: probe exception
# message: MemoryError
import numpy as np


TABLE = [0.0] * (10 ** 10)

def compute_reward(state, action):
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

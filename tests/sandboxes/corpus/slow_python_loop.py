# expect: probe slow
# message: the budget is
import math
import numpy as np

def compute_reward(state, action):
    acc = 0.0
    for i in range(200_000):
        acc += math.sin(i)
    upright = np.cos(state.pole_angle) + 0.0 * acc
    return upright, {"upright": upright}

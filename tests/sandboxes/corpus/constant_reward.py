# expect: probe constant
# message: for every state
import numpy as np


def compute_reward(state, action):
    alive = np.ones_like(state.pole_angle)
    return alive, {"alive": alive}

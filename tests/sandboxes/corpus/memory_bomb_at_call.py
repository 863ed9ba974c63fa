# expect: probe exception
# message: MemoryError
import numpy as np


def compute_reward(state, action):
    table = np.ones((200_000, 200_000))
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

# expect: static not_allowed
# message: np.random is not allowed
import numpy as np


def compute_reward(state, action):
    noise = np.random.normal(size=state.pole_angle.shape)
    return noise, {"noise": noise}

"""CartPole-v1's own reward: +1 for every step, the last one included."""

import numpy as np


def compute_reward(state, action):
    alive = np.ones(len(action))
    return alive, {"alive": alive}

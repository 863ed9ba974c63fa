import os
import numpy as np


def compute_reward(state, action):
    os.system("echo hacked")
    return np.ones(len(action)), {"one": np.ones(len(action))}

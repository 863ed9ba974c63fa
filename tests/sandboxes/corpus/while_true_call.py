# expect: static not_allowed
# message: can never end
import numpy as np


def compute_reward(state, action):
    while True:
        pass

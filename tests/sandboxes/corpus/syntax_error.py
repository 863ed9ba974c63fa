# expect: static syntax
# message: syntax error
import numpy as np


def compute_reward(state, action)
    return state.pole_angle, {}

# expect: probe non_finite
# message: inf
import numpy as np


def compute_reward(state, action):
    r = 1.0 / (state.cart_velocity * 0.0)
    return r, {"inverse": r}

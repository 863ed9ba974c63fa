# expect: probe non_finite
# message: nan
import numpy as np


def compute_reward(state, action):
    r = np.log(state.cart_position)
    return r, {"log_position": r}

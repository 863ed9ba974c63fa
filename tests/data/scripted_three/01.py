import numpy as np

W_UPRIGHT = 1.0
TEMP_UPRIGHT = 0.1
W_CENTRE = 0.1


def compute_reward(state, action):
    upright = W_UPRIGHT * np.exp(-np.square(state.pole_angle / TEMP_UPRIGHT))
    centre = -W_CENTRE * np.abs(state.cart_position)
    return upright + centre, {"upright": upright, "centre": centre}

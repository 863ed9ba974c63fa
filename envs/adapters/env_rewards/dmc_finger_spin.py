"""DMC finger-spin's own reward (dm_control suite, finger.py ``Spin``): 1 while the spinner turns at 15 rad/s or
faster in the negative direction of its hinge (clockwise seen from -y, the front camera), else 0."""

import numpy as np

SPIN_VELOCITY = 15.0


def compute_reward(state, action):
    spinning = (state.hinge_velocity <= -SPIN_VELOCITY).astype(np.float64)
    return spinning, {"spinning": spinning}

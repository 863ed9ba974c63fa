"""Swimmer-v5's own reward: forward velocity minus 1e-4·Σaction²."""

import numpy as np

FORWARD_WEIGHT = 1.0
CTRL_COST_WEIGHT = 1e-4


def compute_reward(state, action):
    forward = FORWARD_WEIGHT * state.x_velocity
    ctrl = -CTRL_COST_WEIGHT * np.sum(np.square(action), axis=1)
    return forward + ctrl, {"reward_forward": forward, "reward_ctrl": ctrl}

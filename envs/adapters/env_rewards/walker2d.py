"""Walker2d-v5's own reward: forward velocity + 1 while healthy − 0.001·Σaction²."""

import numpy as np

FORWARD_WEIGHT = 1.0
HEALTHY_REWARD = 1.0
CTRL_COST_WEIGHT = 0.001


def compute_reward(state, action):
    forward = FORWARD_WEIGHT * state.x_velocity
    survive = HEALTHY_REWARD * state.healthy
    ctrl = -CTRL_COST_WEIGHT * np.sum(np.square(action), axis=1)
    return forward + survive + ctrl, {"reward_forward": forward, "reward_survive": survive, "reward_ctrl": ctrl}

"""Reacher-v5's own reward: minus the fingertip–target distance, minus Σaction²."""

import numpy as np

DIST_WEIGHT = 1.0
CTRL_WEIGHT = 1.0


def compute_reward(state, action):
    dist = -DIST_WEIGHT * state.distance_to_target
    ctrl = -CTRL_WEIGHT * np.sum(np.square(action), axis=1)
    return dist + ctrl, {"reward_dist": dist, "reward_ctrl": ctrl}

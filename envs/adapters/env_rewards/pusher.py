"""Pusher-v5's own reward: −cylinder–goal distance − 0.5·fingertip–cylinder distance − 0.1·Σaction²."""

import numpy as np

DIST_WEIGHT = 1.0
NEAR_WEIGHT = 0.5
CTRL_WEIGHT = 0.1


def compute_reward(state, action):
    dist = -DIST_WEIGHT * state.object_to_goal
    near = -NEAR_WEIGHT * state.fingertip_to_object
    ctrl = -CTRL_WEIGHT * np.sum(np.square(action), axis=1)
    return dist + near + ctrl, {"reward_dist": dist, "reward_near": near, "reward_ctrl": ctrl}

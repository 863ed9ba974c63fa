"""The crawler's own reward (the "human" baseline): forward speed, a bonus for staying upright, a control cost.

A reward file like any candidate's: compute_reward over the task's state fields, numpy only."""

import numpy as np

CTRL_COST = 0.05


def compute_reward(state, action):
    forward = state.x_velocity
    upright = 0.2 * state.healthy
    ctrl = -CTRL_COST * np.sum(np.square(action), axis=1)
    return forward + upright + ctrl, {"forward": forward, "upright": upright, "ctrl": ctrl}

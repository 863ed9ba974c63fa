"""Ant-v5's own reward: forward velocity + 1 while healthy − 0.5·Σaction² − 5e-4·Σcontact_forces²."""

import numpy as np

FORWARD_WEIGHT = 1.0
HEALTHY_REWARD = 1.0
CTRL_COST_WEIGHT = 0.5
CONTACT_COST_WEIGHT = 5e-4


def compute_reward(state, action):
    forward = FORWARD_WEIGHT * state.x_velocity
    survive = HEALTHY_REWARD * state.healthy
    ctrl = -CTRL_COST_WEIGHT * np.sum(np.square(action), axis=1)
    contact = -CONTACT_COST_WEIGHT * np.sum(np.square(state.contact_forces), axis=(1, 2))
    return forward + survive + ctrl + contact, {
        "reward_forward": forward, "reward_survive": survive, "reward_ctrl": ctrl, "reward_contact": contact,
    }

"""Humanoid-v5's own reward: 1.25·(centre-of-mass velocity) + 5 while healthy − 0.1·Σaction² − min(5e-7·Σcontact², 10)."""

import numpy as np

FORWARD_WEIGHT = 1.25
HEALTHY_REWARD = 5.0
CTRL_COST_WEIGHT = 0.1
CONTACT_COST_WEIGHT = 5e-7
CONTACT_COST_MAX = 10.0


def compute_reward(state, action):
    forward = FORWARD_WEIGHT * state.x_velocity
    survive = HEALTHY_REWARD * state.healthy
    ctrl = -CTRL_COST_WEIGHT * np.sum(np.square(action), axis=1)
    contact_sq = np.sum(np.square(state.contact_forces), axis=(1, 2))
    contact = -np.minimum(CONTACT_COST_WEIGHT * contact_sq, CONTACT_COST_MAX)
    return forward + survive + ctrl + contact, {
        "reward_forward": forward, "reward_survive": survive, "reward_ctrl": ctrl, "reward_contact": contact,
    }

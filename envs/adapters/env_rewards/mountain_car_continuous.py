"""MountainCarContinuous-v0's own reward: -0.1·action² per step, +100 on reaching the flag (x >= 0.45, moving right)."""

import numpy as np

GOAL_POSITION = 0.45
GOAL_BONUS = 100.0
ACTION_COST = 0.1


def compute_reward(state, action):
    reached = np.logical_and(state.position >= GOAL_POSITION, state.velocity >= 0.0)
    goal = GOAL_BONUS * reached.astype(np.float64)
    ctrl = -ACTION_COST * np.square(action[:, 0])
    return goal + ctrl, {"goal": goal, "ctrl": ctrl}

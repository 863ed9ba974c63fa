# writing the score file
# expect: static not_allowed
# message: 'open'
import numpy as np


def compute_reward(state, action):
    with open("runs/summary.json", "w") as f:
        f.write("{}")
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

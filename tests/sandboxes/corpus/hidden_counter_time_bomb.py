# honest for the first calls, NaN afterwards
# expect: probe non_finite
# message: nan
import numpy as np


STEPS = [0]

def tick(box):
    box.append(1)
    return len(box)

def compute_reward(state, action):
    if tick(STEPS) > 4:
        bomb = np.full(state.pole_angle.shape, np.nan)
        return bomb, {"upright": bomb}
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

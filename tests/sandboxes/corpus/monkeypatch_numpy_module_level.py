# make NaN checks pass (in the trainer, if it ran there)
# expect: static not_allowed
# message: monkeypatching
import numpy as np


np.isfinite = lambda x: np.ones(np.shape(x), dtype=bool)

def compute_reward(state, action):
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

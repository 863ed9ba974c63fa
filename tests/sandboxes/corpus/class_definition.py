# an always-equal object is how graders that compare in-process get fooled
# expect: static not_allowed
# message: classes are not allowed
import numpy as np


class Sneaky:
    def __eq__(self, other):
        return True

def compute_reward(state, action):
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

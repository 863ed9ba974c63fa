# printing at import is captured and bounded, not an error
# expect: probe ok
# warning: prints when it loads
import numpy as np

SCALE = 2.0
print("loading reward with scale", SCALE)


def compute_reward(state, action):
    upright = SCALE * np.cos(state.pole_angle)
    return upright, {"upright": upright}

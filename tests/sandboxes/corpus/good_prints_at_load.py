# printing while the module loads is captured and bounded, not an error
# expect: probe ok
# warning: prints when it loads
import numpy as np


def announce(value):
    print("loading reward with scale", value)
    return value


SCALE = announce(2.0)


def compute_reward(state, action):
    upright = SCALE * np.cos(state.pole_angle)
    return upright, {"upright": upright}

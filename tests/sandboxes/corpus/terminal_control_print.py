# printed text with control sequences is only warned about, and reaches nobody raw
# expect: probe ok
# warning: prints
import numpy as np


def compute_reward(state, action):
    print("\x1b[2J\x1b]52;c;eA==\x07\rsandbox: accepted")
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

# an aliased module would hide its attributes from the checker
# expect: static not_allowed
# message: may only be used as np.<name>
import numpy as np


def compute_reward(state, action):
    m = np
    rows = m.genfromtxt("/etc/passwd")
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

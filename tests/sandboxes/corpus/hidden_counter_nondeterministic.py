# state hidden behind a helper's argument
# expect: probe nondeterministic
# message: different values for the same states
import numpy as np


STEPS = [0]

def tick(box):
    box.append(1)
    return len(box)

def compute_reward(state, action):
    n = tick(STEPS)
    upright = np.cos(state.pole_angle) + 0.001 * n
    return upright, {"upright": upright}

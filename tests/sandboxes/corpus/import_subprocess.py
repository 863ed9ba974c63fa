# expect: static not_allowed
# message: import of 'subprocess'
import subprocess
import numpy as np

def compute_reward(state, action):
    subprocess.run(["id"])
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

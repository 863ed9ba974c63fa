# ignore the parent's attempt to stop it
# expect: static not_allowed
# message: import of 'signal'
import signal
import numpy as np

signal.signal(signal.SIGTERM, signal.SIG_IGN)

def compute_reward(state, action):
    upright = np.cos(state.pole_angle)
    return upright, {"upright": upright}

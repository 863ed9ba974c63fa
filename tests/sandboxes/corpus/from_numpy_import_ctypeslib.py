# expect: static not_allowed
# message: numpy.ctypeslib is not on the allow-list
from numpy import ctypeslib

def compute_reward(state, action):
    return state.pole_angle, {}

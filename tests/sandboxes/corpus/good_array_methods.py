# ndarray methods import numpy helpers lazily through the candidate's builtins
# expect: probe ok
import numpy as np


def compute_reward(state, action):
    obs = np.stack([state.cart_position, state.cart_velocity, state.pole_angle], axis=1)
    spread = obs.std(axis=1) + obs.var() * 0.0
    energy = np.square(obs).sum(axis=1).clip(0.0, 10.0)
    peak = np.abs(obs).max(axis=1) - np.abs(obs).min(axis=1)
    upright = np.cos(state.pole_angle).astype(np.float64).round(6)
    total = upright - 0.01 * energy - 0.01 * peak + 0.0 * spread.mean() + 0.0 * action.T.sum()
    return total, {"upright": upright, "energy": -0.01 * energy, "peak": -0.01 * peak}

"""Fitness of the cartpole-hold-right task (trusted user code, run by the evaluator only)."""

import numpy as np


def steps_near_one(episode):
    """Steps (of at most 500) the pole stayed up with the cart within 0.25 m of x = 1.0 m."""
    x = np.asarray(episode.state.cart_position, dtype=np.float64)
    return float(np.sum(np.abs(x - 1.0) < 0.25))

"""Fitness of the swimmer-backward task (trusted user code, run by the evaluator only)."""

import numpy as np


def backward_distance(episode):
    """Metres the swimmer's front moved toward -x from its first to its last recorded state."""
    x = np.asarray(episode.state.x_position, dtype=np.float64)
    return float(x[0] - x[-1])

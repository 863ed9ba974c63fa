"""Fitness of the hopper-backward task (trusted user code, run by the evaluator only)."""

import numpy as np


def backward_distance(episode):
    """Metres the hopper moved backwards (-x) from its first to its last recorded state; a fall ends the episode."""
    x = np.asarray(episode.state.x_position)
    return float(x[0] - x[-1])

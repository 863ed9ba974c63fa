"""Fitness of the pendulum-spin task (trusted user code, run by the evaluator only)."""

import numpy as np


def ccw_turns(episode):
    """Counter-clockwise turns per episode: the unwrapped angle's net change / 2π (clockwise turns count negative)."""
    angle = np.unwrap(np.asarray(episode.state.angle, dtype=np.float64))
    return float((angle[-1] - angle[0]) / (2 * np.pi))

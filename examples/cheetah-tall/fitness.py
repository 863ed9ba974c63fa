"""Fitness of the cheetah-tall task (trusted user code, run by the evaluator only)."""

import numpy as np

TALL_M = 0.6  # the standing cheetah's torso is ~0.65 m high; a crouching or flipped one is far lower


def tall_distance(episode):
    """Metres covered forward (+x) on the steps that ended with the torso at least 0.6 m above the ground."""
    x = np.asarray(episode.state.x_position)
    tall = np.asarray(episode.state.torso_height)[1:] >= TALL_M
    return float(np.sum(np.diff(x) * tall))

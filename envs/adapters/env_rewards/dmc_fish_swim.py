"""DMC fish-swim's own reward (dm_control suite, fish.py ``Swim``): (7·in_target + is_upright) / 8, in [0, 1].

in_target = tolerance(mouth–target distance, bounds (0, 0.045 m: the two radii), margin 0.09 m, gaussian with 0.1 at
the margin); is_upright = (1 + up_vector[2]) / 2. DMC places the target at random each episode; here it stays
where the model puts it.
"""

import math

import numpy as np

RADII = 0.045
MARGIN = 2 * RADII
SCALE = math.sqrt(-2.0 * math.log(0.1))


def compute_reward(state, action):
    beyond = np.maximum(state.distance_to_target - RADII, 0.0) / MARGIN
    in_target = np.exp(-0.5 * np.square(beyond * SCALE))
    upright = 0.5 * (1.0 + state.up_vector[:, 2])
    reach = 7.0 * in_target / 8.0
    stay_upright = upright / 8.0
    return reach + stay_upright, {"in_target": reach, "upright": stay_upright}

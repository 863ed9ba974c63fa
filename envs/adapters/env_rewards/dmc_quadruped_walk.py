"""DMC quadruped-walk's own reward (dm_control suite, quadruped.py ``Move`` at 0.5 m/s): upright × move, in [0, 1].

upright = tolerance(torso z-axis height, bounds (1, ∞), margin 2, linear) = (1 + up_vector[2]) / 2;
move = tolerance(velocimeter x, bounds (0.5, ∞), margin 0.5, value 0.5 at the margin, linear) = clip(0.5 + v, 0, 1)
for v below 0.5 m/s.
"""

import numpy as np

WALK_SPEED = 0.5


def compute_reward(state, action):
    upright = np.clip((1.0 + state.up_vector[:, 2]) / 2.0, 0.0, 1.0)
    speed = state.velocimeter[:, 0]
    move = np.clip(1.0 - (WALK_SPEED - speed), 0.0, 1.0)
    total = upright * move
    return total, {"upright_times_move": total}

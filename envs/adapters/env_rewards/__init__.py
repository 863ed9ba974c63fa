"""The environments' own ("human") rewards, rewritten over RewardSmith's state fields.

Each module here is a valid reward file (it passes the sandbox's static check: only ``numpy``, a
``compute_reward(state, action)`` returning the total and named components) that reproduces the
shipped reward of one Gymnasium environment, with the environment's default weights, from the
adapter's post-step state. They are the contract test's proof that an adapter exposes enough to
write the env's reward, a known-good reward for ``rewardsmith evaluate``, and a reference a person
can start from. Environments whose reward depends on the pre-step state (Pendulum) have none.
"""

from __future__ import annotations

from pathlib import Path

ENV_REWARD_FILES: dict[str, str] = {
    "CartPole-v1": "cartpole.py",
    "MountainCarContinuous-v0": "mountain_car_continuous.py",
    "HalfCheetah-v5": "half_cheetah.py",
    "Hopper-v5": "hopper.py",
    "Walker2d-v5": "walker2d.py",
    "Ant-v5": "ant.py",
    "Humanoid-v5": "humanoid.py",
    "Swimmer-v5": "swimmer.py",
    "Reacher-v5": "reacher.py",
    "Pusher-v5": "pusher.py",
}


def env_reward_file(env_id: str) -> Path | None:
    """The reward file reproducing ``env_id``'s own reward, or None if there is none."""
    name = ENV_REWARD_FILES.get(env_id)
    return Path(__file__).parent / name if name is not None else None

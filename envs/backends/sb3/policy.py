"""An SB3 policy file (``policy.npz``: the actor-critic's state dict as plain arrays) back into a policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rewardsmith.envs.backends.records import PolicyConfig


def sb3_state_dict(path: Path, config: PolicyConfig) -> dict[str, np.ndarray]:
    """The file's arrays: they are SB3's state dict already."""
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def load(path: Path, config: PolicyConfig, observation_space: Any, action_space: Any) -> Any:
    """SB3's ``ActorCriticPolicy`` with the task's architecture and the saved weights (arrays only, no pickle)."""
    import torch
    from stable_baselines3.common.policies import ActorCriticPolicy

    torch.set_num_threads(1)  # a small MLP acts fastest on one thread; jobs run side by side
    policy = ActorCriticPolicy(observation_space, action_space, lr_schedule=lambda _: 0.0,
                               use_sde=config.use_sde, **config.policy_kwargs)
    with np.load(path, allow_pickle=False) as data:
        policy.load_state_dict({k: torch.as_tensor(data[k]) for k in data.files})
    policy.set_training_mode(False)
    return policy

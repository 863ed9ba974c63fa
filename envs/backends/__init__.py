"""Training backends: SB3 (``sb3/``, one process per target) and JAX (``jax/``, one program per round).

Both write the same records (:mod:`.records`); :func:`load_policy` turns either's policy file back into
something that acts, so evaluation, videos and export do not depend on who trained.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from rewardsmith.envs.backends.records import PolicyConfig, PolicyFormat

POLICY_LOADERS: dict[PolicyFormat, str] = {"sb3": "rewardsmith.envs.backends.sb3.policy",
                                           "jax": "rewardsmith.envs.backends.jax.policy"}
"""The module whose ``load(path, config, observation_space, action_space)`` reads each format."""


def sb3_state_dict(path: Path, config: PolicyConfig) -> dict[str, Any]:
    """The policy file's arrays as SB3 ``MlpPolicy``'s state dict, whoever trained it (``rewardsmith export`` builds
    policy.zip from it); ``ValueError`` when the policy has no SB3 counterpart."""
    return importlib.import_module(POLICY_LOADERS[config.format]).sb3_state_dict(path, config)


def load_policy(path: Path, config: PolicyConfig, observation_space: Any, action_space: Any) -> Any:
    """Rebuild the trained policy from ``policy.npz`` (arrays only, no pickle), as its record's ``format`` says.

    An SB3 actor-critic, or — for a policy the JAX backend trained — its actor in NumPy
    (:class:`.jax.policy.NumpyPolicy`, torch is not imported for it), so both backends are scored on the
    same env, seeds and fitness.
    """
    return importlib.import_module(POLICY_LOADERS[config.format]).load(path, config, observation_space, action_space)

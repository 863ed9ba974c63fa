"""State adapters: read an environment's post-step state into named, batch-first fields.

An adapter owns the :class:`~core.state.StateSpec` of one Gymnasium environment id and knows how to
build the environment and read one flat state row from it after each step. The registry maps
environment ids to adapters; a user task file may name its own adapter as ``"path.py:ClassName"``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import gymnasium as gym
import numpy as np

from rewardsmith.core.state import StateSpec


class StateAdapter(ABC):
    """Reads named state fields from one (unwrapped or wrapped) Gymnasium environment."""

    env_id: str
    spec: StateSpec

    def make_env(self, render_mode: str | None = None, **kwargs: Any) -> gym.Env:
        """Build the environment; termination and reset stay the environment's own."""
        return gym.make(self.env_id, render_mode=render_mode, **kwargs)

    @abstractmethod
    def read(self, env: gym.Env, obs: np.ndarray) -> np.ndarray:
        """Return the post-step state as a flat float64 row of length ``spec.size``.

        Called right after ``env.step`` (or ``reset``) and before any automatic reset, so on the
        last step of an episode it sees the terminal state.
        """

    def action_row(self, action: Any) -> np.ndarray:
        """The action as the reward sees it: a float64 row of length ``spec.action.dim``."""
        return np.asarray(action, dtype=np.float64).reshape(self.spec.action.dim)

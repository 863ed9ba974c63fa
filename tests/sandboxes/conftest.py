"""Fixtures for the sandbox tests: the CartPole state spec and recorded states to probe with."""

from __future__ import annotations

import pytest

from rewardsmith.core.state import StateSpec
from rewardsmith.envs.rollout import StateSample, random_rollout
from rewardsmith.envs.tasks import Task, load_task


@pytest.fixture(scope="session")
def cartpole() -> Task:
    return load_task("cartpole")


@pytest.fixture(scope="session")
def spec(cartpole: Task) -> StateSpec:
    return cartpole.adapter.spec


@pytest.fixture(scope="session")
def sample(cartpole: Task) -> StateSample:
    """256 recorded CartPole states (random actions, seed 0)."""
    return random_rollout(cartpole, n=256, seed=0)

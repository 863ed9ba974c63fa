"""The contract every registered task keeps (STYLE.md 14), checked over every built-in task and the examples.

Reset and step work; every state field is present, finite and of its declared shape; the compact
description names every field with its unit; the env's own reward is reproduced from the adapter's
fields where a reward file claims so; the fitness is computable from a short random episode; and
the reward wrapper logs the reward's components.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from stable_baselines3.common.vec_env import DummyVecEnv

from rewardsmith.envs.adapters.env_rewards import ENV_REWARD_FILES, env_reward_file
from rewardsmith.envs.backends.sb3.reward_wrapper import BatchReward, EnvReward, StateCapture
from rewardsmith.envs.backends.sb3.stats import TrainingStats
from rewardsmith.envs.fitness import compute_fitness
from rewardsmith.envs.rollout import random_rollout
from rewardsmith.envs.tasks import ADAPTERS, Task, builtin_task_files, load_task

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_TASKS = sorted(str(p) for p in (REPO / "examples").glob("*/*.toml"))
TASKS = sorted(builtin_task_files()) + EXAMPLE_TASKS


def _ids(ref: str) -> str:
    return Path(ref).stem


def _reward_module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"env_reward_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_registered_adapter_has_a_built_in_task() -> None:
    envs = {load_task(name).env_id for name in builtin_task_files()}
    assert set(ADAPTERS) <= envs, f"adapters without a task: {sorted(set(ADAPTERS) - envs)}"
    assert set(ENV_REWARD_FILES) <= set(ADAPTERS)


@pytest.fixture(scope="module", params=TASKS, ids=_ids)
def task(request: pytest.FixtureRequest) -> Task:
    return load_task(request.param)


def test_reset_and_step_give_finite_fields_of_the_declared_shapes(task: Task) -> None:
    adapter, spec = task.adapter, task.adapter.spec
    env = task.make_env()
    env.action_space.seed(1)
    try:
        obs, _ = env.reset(seed=1)
        rows = [adapter.read(env, obs)]
        actions = []
        for _ in range(40):
            action = env.action_space.sample()
            obs, _, terminated, truncated, _ = env.step(action)
            rows.append(adapter.read(env, obs))
            actions.append(adapter.action_row(action))
            if terminated or truncated:
                break
    finally:
        env.close()
    flat = np.asarray(rows)
    assert flat.dtype == np.float64 and flat.shape == (len(rows), spec.size)
    assert np.all(np.isfinite(flat)), "a state field is not finite"
    state = spec.unpack(flat)
    for f in spec.fields:
        assert getattr(state, f.name).shape == (len(rows), *f.shape), f.name
    assert np.asarray(actions).shape == (len(actions), spec.action.dim)


def test_description_names_every_field_with_shape_and_unit(task: Task) -> None:
    text = task.adapter.spec.describe()
    for f in task.adapter.spec.fields:
        line = next(ln for ln in text.splitlines() if ln.startswith(f"state.{f.name}:"))
        assert f.unit in line and f.doc in line
        assert ("(B, " + ", ".join(map(str, f.shape)) + ")" if f.shape else "(B,)") in line
    assert text.splitlines()[len(task.adapter.spec.fields)].startswith(f"action: (B, {task.adapter.spec.action.dim})")


def test_fitness_is_computable_from_a_short_random_episode(task: Task) -> None:
    sample = random_rollout(task, n=64, seed=2, max_episodes=1)
    assert sample.states.shape == (64, task.adapter.spec.size)
    assert sample.episodes, "a random rollout finished no episode"
    value = compute_fitness(task.fitness, sample.episodes[0], task.fitness_ref)
    assert np.isfinite(value)


def test_env_reward_is_reproduced_from_the_state_fields(task: Task) -> None:
    path = env_reward_file(task.env_id)
    if path is None or task.env_kwargs:
        pytest.skip(f"no reward file claims to reproduce {task.env_id}'s reward with these settings")
    module = _reward_module(path)
    episode = random_rollout(task, n=8, seed=3, max_episodes=1).episodes[0]
    total, components = module.compute_reward(episode.state, episode.actions)
    assert total.shape == (episode.length,)
    # float32 actions inside the env vs float64 here: agreement to ~1e-7, far below any reward's scale.
    np.testing.assert_allclose(total, episode.env_rewards, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sum(components.values()), total, rtol=1e-12, atol=1e-12)


def test_reward_wrapper_logs_the_reward_components(task: Task) -> None:
    adapter = task.adapter
    venv = DummyVecEnv([lambda: StateCapture(task.make_env(), adapter) for _ in range(2)])
    stats = TrainingStats(2)
    env = BatchReward(venv, adapter.spec, EnvReward(), task.fitness, stats)
    env.seed(4)
    env.reset()
    venv.action_space.seed(4)
    paid = []
    try:
        for _ in range(30):
            actions = np.stack([venv.action_space.sample() for _ in range(2)])
            _, rewards, _, _ = env.step(actions)
            assert rewards.shape == (2,)
            paid.append(rewards)
    finally:
        env.close()
    assert stats.components == ["env_reward"]
    logged = stats.checkpoint(60).component_step_means["env_reward"]
    assert logged == pytest.approx(float(np.mean(paid)), rel=1e-5, abs=1e-6)

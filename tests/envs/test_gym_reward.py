"""RewardSmithReward: a RewardSmith reward in anyone's Gymnasium/SB3 training code."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from rewardsmith.core.errors import TaskError
from rewardsmith.envs.gym_reward import RewardError, RewardSmithReward, TrustedRewardWarning

DATA = Path(__file__).resolve().parents[1] / "data" / "scripted_cartpole"
UPRIGHT = DATA / "01_upright.py"  # upright = exp(-(pole_angle / 0.1)^2), centre = -0.1 |cart_position|
HOPPER_REWARD = """\
import numpy as np

W_FORWARD = 1.0
W_CTRL = 0.001


def compute_reward(state, action):
    forward = W_FORWARD * state.x_velocity
    ctrl = -W_CTRL * np.sum(np.square(action), axis=1)
    return forward + ctrl, {"forward": forward, "ctrl": ctrl}
"""


def _expected_cartpole(obs: np.ndarray) -> tuple[float, float]:
    obs = obs.astype(np.float64)  # the adapter's state rows are float64
    return float(np.exp(-np.square(obs[2] / 0.1))), float(-0.1 * abs(obs[0]))


def test_passes_gymnasiums_and_sb3s_env_checkers() -> None:
    env = RewardSmithReward(gym.make("CartPole-v1"), UPRIGHT)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the checkers' advice about wrapped envs and infinite bounds
            gym_check_env(env, skip_render_check=True)  # incl. its close check: spec.make() a second wrapper, close twice
            sb3_check_env(env, warn=False, skip_render_check=True)
    finally:
        env.close()


def test_the_reward_is_the_files_total_and_each_component_is_in_info() -> None:
    env = RewardSmithReward(gym.make("CartPole-v1"), UPRIGHT)
    plain = gym.make("CartPole-v1")
    try:
        assert "seccomp" in env.sandbox
        obs, _ = env.reset(seed=3)
        plain.reset(seed=3)
        for t in range(30):
            action = t % 2
            obs, reward, terminated, truncated, info = env.step(action)
            p_obs, p_reward, p_term, p_trunc, _ = plain.step(action)
            upright, centre = _expected_cartpole(obs)
            assert info["reward_upright"] == pytest.approx(upright)
            assert info["reward_centre"] == pytest.approx(centre)
            assert isinstance(reward, float) and reward == pytest.approx(upright + centre)
            assert info["env_reward"] == p_reward == 1.0
            assert np.array_equal(obs, p_obs) and (terminated, truncated) == (p_term, p_trunc)  # the env's own
            if terminated or truncated:
                break
        assert env.components == ("upright", "centre")
    finally:
        env.close()
        plain.close()


def test_mujoco_fields_come_from_the_task_adapter_and_components_sit_beside_the_envs_own(tmp_path: Path) -> None:
    reward = tmp_path / "hop.py"
    reward.write_text(HOPPER_REWARD)
    env = RewardSmithReward(gym.make("Hopper-v5"), reward)  # the adapter is the built-in hopper task's
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gym_check_env(env, skip_render_check=True, skip_close_check=True)
        env.reset(seed=0)
        action = np.full(3, 0.5, dtype=np.float32)
        _, reward_value, _, _, info = env.step(action)
        # x_velocity is Hopper's own measurement (info["x_velocity"]); the env's reward_* terms stay in info
        assert info["reward_forward"] == pytest.approx(info["x_velocity"])
        assert info["reward_ctrl"] == pytest.approx(-0.001 * 3 * 0.25)
        assert reward_value == pytest.approx(info["x_velocity"] - 0.00075)
        assert "reward_survive" in info and info["env_reward"] != reward_value
    finally:
        env.close()


def test_close_ends_the_sandboxed_worker() -> None:
    env = RewardSmithReward(gym.make("CartPole-v1"), UPRIGHT)
    assert env._process is not None and env._process._proc is not None
    pid = env._process._proc.pid
    os.kill(pid, 0)  # running
    env.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    env.close()  # idempotent


def test_trusted_runs_in_process_only_when_asked_and_says_so() -> None:
    with pytest.warns(TrustedRewardWarning, match="no sandbox"):
        trusted = RewardSmithReward(gym.make("CartPole-v1"), UPRIGHT, trusted=True)
    sandboxed = RewardSmithReward(gym.make("CartPole-v1"), UPRIGHT)
    try:
        assert trusted._process is None and "trusted=True" in trusted.sandbox
        trusted.reset(seed=1)
        sandboxed.reset(seed=1)
        for t in range(10):
            a, b = trusted.step(t % 2), sandboxed.step(t % 2)
            assert a[1] == b[1] and a[4] == b[4]
    finally:
        trusted.close()
        sandboxed.close()


def test_a_reward_that_breaks_a_rule_is_refused_before_anything_runs() -> None:
    with pytest.raises(RewardError, match=r"refused by the static check: line 1: .*os"):
        RewardSmithReward(gym.make("CartPole-v1"), DATA / "02_imports_os.py")


def test_a_non_finite_reward_stops_with_the_state_it_happened_at() -> None:
    env = RewardSmithReward(gym.make("CartPole-v1"), DATA / "04_nan.py")  # log(pole_angle): NaN once it is < 0
    try:
        env.reset(seed=0)
        with pytest.raises(RewardError, match=r"step \d+: total, log_angle is not one finite number .*pole_angle="):
            for _ in range(200):
                env.step(1)
    finally:
        env.close()


def test_the_task_comes_from_the_env_id_or_is_named_and_must_match() -> None:
    with pytest.raises(TaskError, match=r"no built-in state adapter for 'Acrobot-v1'; built-in: .*CartPole-v1"):
        RewardSmithReward(gym.make("Acrobot-v1"), UPRIGHT)
    with pytest.raises(TaskError, match="task 'hopper' is for 'Hopper-v5', but the env is 'CartPole-v1'"):
        RewardSmithReward(gym.make("CartPole-v1"), UPRIGHT, task="hopper")
    with pytest.raises(RewardError, match="cannot read the reward file"):
        RewardSmithReward(gym.make("CartPole-v1"), DATA / "missing.py")
    env = RewardSmithReward(gym.make("CartPole-v1"), UPRIGHT, task="cartpole")
    env.close()

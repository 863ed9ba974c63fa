"""MuJoCo adapters: what the named fields mean, when they are read, and new behaviours without code changes."""

from __future__ import annotations

import math
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.vec_env import DummyVecEnv

from rewardsmith.agent.design.designers.terms import term_pool
from rewardsmith.core.state import StateSpec
from rewardsmith.envs.adapters.env_rewards import env_reward_file
from rewardsmith.envs.backends.sb3.reward_wrapper import STATE_KEY, StateCapture
from rewardsmith.envs.fitness import (
    Episode,
    compute_fitness,
    forward_distance,
    neg_object_goal_distance,
    neg_target_distance,
)
from rewardsmith.envs.rollout import random_rollout
from rewardsmith.envs.tasks import load_task
from rewardsmith.sandboxes.validate import validate_source

REPO = Path(__file__).resolve().parents[2]
HOPPER_BACKWARD = REPO / "examples" / "hopper-backward" / "hopper-backward.toml"
CHEETAH_TALL = REPO / "examples" / "cheetah-tall" / "cheetah-tall.toml"


def _episode(spec: StateSpec, **fields: list[float]) -> Episode:
    """An episode whose named fields follow the given per-step values (the others are zero)."""
    n = len(next(iter(fields.values())))
    values = {f.name: np.zeros((n, *f.shape)) for f in spec.fields}
    values.update({k: np.asarray(v, dtype=np.float64) for k, v in fields.items()})
    rows = list(spec.pack(values))
    return Episode.from_rows(spec, rows, [np.zeros(spec.action.dim)] * n, [0.0] * n, False, True)


def test_x_velocity_is_the_envs_own_measurement_and_the_reset_row_has_one_too() -> None:
    task = load_task("hopper")
    env = task.make_env()
    obs, _ = env.reset(seed=0)
    spec = task.adapter.spec
    reset_state = spec.unpack(task.adapter.read(env, obs)[None])
    assert reset_state.x_velocity[0] == pytest.approx(env.unwrapped.data.qvel[0])
    env.action_space.seed(0)
    for _ in range(5):
        obs, _, _, _, info = env.step(env.action_space.sample())
        state = spec.unpack(task.adapter.read(env, obs)[None])
        assert state.x_velocity[0] == pytest.approx(info["x_velocity"], rel=1e-12)
        assert state.x_position[0] == pytest.approx(info["x_position"], rel=1e-12)
        assert state.torso_height[0] == pytest.approx(env.unwrapped.data.qpos[1])
    env.close()


def test_the_adapter_sees_the_terminal_state_before_the_vector_env_resets() -> None:
    task = load_task("hopper")
    venv = DummyVecEnv([lambda: StateCapture(task.make_env(), task.adapter)])
    venv.seed(0)
    venv.reset()
    spec = task.adapter.spec
    try:
        for _ in range(1000):
            obs, _, dones, infos = venv.step(np.ones((1, 3), dtype=np.float32))  # full torque: falls fast
            state = spec.unpack(infos[0][STATE_KEY][None])
            if dones[0]:
                assert not infos[0].get("TimeLimit.truncated", False)
                assert state.healthy[0] == 0.0
                assert state.torso_height[0] <= 0.7 or abs(state.torso_angle[0]) >= 0.2
                # the observation returned is already the next episode's first one
                assert not np.allclose(obs[0], infos[0]["terminal_observation"])
                break
            assert state.healthy[0] == 1.0
        else:
            pytest.fail("the hopper never fell under full torque")
    finally:
        venv.close()


def test_reading_the_state_does_not_change_the_dynamics() -> None:
    task = load_task("walker2d")
    adapted = task.make_env()  # first: it routes MuJoCo's warnings away from MUJOCO_LOG.TXT in the cwd
    plain = gym.make("Walker2d-v5")
    plain.reset(seed=5)
    adapted.reset(seed=5)
    rng = np.random.default_rng(5)
    for _ in range(60):
        action = rng.uniform(-1, 1, size=6).astype(np.float32)
        a = plain.step(action)
        b = adapted.step(action)
        task.adapter.read(adapted, b[0])
        np.testing.assert_array_equal(a[0], b[0])
        assert a[1:4] == b[1:4]
        if a[2] or a[3]:
            break
    plain.close()
    adapted.close()


def test_planar_pitch_is_positive_nose_down() -> None:
    task = load_task("halfcheetah")
    env = task.make_env()
    env.reset(seed=0)
    u = env.unwrapped
    qpos = u.data.qpos.copy()
    qpos[2] = 0.3
    u.set_state(qpos, np.zeros_like(u.data.qvel))
    state = task.adapter.spec.unpack(task.adapter.read(env, np.zeros(1))[None])
    assert state.torso_angle[0] == pytest.approx(0.3)
    assert u.data.xmat[1].reshape(3, 3)[2, 0] < 0  # the torso's forward axis now points down
    env.close()


def test_ant_orientation_fields() -> None:
    task = load_task("ant")
    env = task.make_env()
    obs, _ = env.reset(seed=0)
    state = task.adapter.spec.unpack(task.adapter.read(env, obs)[None])
    assert np.linalg.norm(state.up_vector[0]) == pytest.approx(1.0)
    assert state.up_vector[0, 2] > math.cos(0.3)  # starts upright (reset noise tilts it a little)
    assert -math.pi <= state.heading[0] <= math.pi
    u = env.unwrapped
    qpos = u.data.qpos.copy()
    qpos[3:7] = [math.cos(math.pi / 4), 0.0, 0.0, math.sin(math.pi / 4)]  # yaw +90°, upright
    u.set_state(qpos, np.zeros_like(u.data.qvel))
    state = task.adapter.spec.unpack(task.adapter.read(env, obs)[None])
    assert state.heading[0] == pytest.approx(math.pi / 2)
    np.testing.assert_allclose(state.up_vector[0], [0.0, 0.0, 1.0], atol=1e-12)
    env.close()


def test_arm_distances_agree_with_the_positions() -> None:
    reacher = random_rollout(load_task("reacher"), n=64, seed=0, max_episodes=1).episodes[0].state
    tip_to_target = np.linalg.norm(reacher.fingertip_position - reacher.target_position, axis=1)
    np.testing.assert_allclose(reacher.distance_to_target, tip_to_target, atol=1e-9)
    assert np.ptp(reacher.target_position, axis=0).max() == 0.0  # the target stays put within an episode
    pusher = random_rollout(load_task("pusher"), n=64, seed=0, max_episodes=1).episodes[0].state
    np.testing.assert_allclose(pusher.object_to_goal,
                               np.linalg.norm(pusher.object_position - pusher.goal_position, axis=1))
    np.testing.assert_allclose(pusher.fingertip_to_object,
                               np.linalg.norm(pusher.object_position - pusher.fingertip_position, axis=1))


def test_fitness_metrics_measure_what_their_docstrings_say() -> None:
    walker = load_task("walker2d").adapter.spec
    assert forward_distance(_episode(walker, x_position=[0.1, 0.5, 2.6])) == pytest.approx(2.5)
    assert forward_distance(_episode(walker, x_position=[0.1, -0.4])) == pytest.approx(-0.5)
    reacher = load_task("reacher").adapter.spec
    assert neg_target_distance(_episode(reacher, distance_to_target=[0.2, 0.1, 0.0])) == pytest.approx(-0.1)
    pusher = load_task("pusher").adapter.spec
    assert neg_object_goal_distance(_episode(pusher, object_to_goal=[0.4, 0.3, 0.05])) == pytest.approx(-0.05)


def test_the_env_reward_files_are_valid_rewards_for_the_sandbox() -> None:
    for name in ("hopper", "reacher"):
        task = load_task(name)
        path = env_reward_file(task.env_id)
        assert path is not None
        sample = random_rollout(task, n=128, seed=0)
        report = validate_source(path.read_text(), task.adapter.spec, sample.states, sample.actions)
        assert report.accepted, report.message
        assert set(report.components) >= {"reward_ctrl"}


def test_mujoco_warnings_do_not_litter_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    load_task("halfcheetah").make_env().close()  # its XML triggers mujoco 4's 'settotalmass' warning
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()


# -- a new behaviour on a built-in body: a task file and a fitness function, no code ----------------
def test_hopper_backward_is_a_task_file_and_a_fitness_function() -> None:
    task = load_task(HOPPER_BACKWARD)
    assert task.env_id == "Hopper-v5" and task.adapter.spec == load_task("hopper").adapter.spec
    episode = _episode(task.adapter.spec, x_position=[0.0, -0.3, -1.2])
    assert compute_fitness(task.fitness, episode) == pytest.approx(1.2)
    sample = random_rollout(task, n=64, seed=0, max_episodes=1)
    assert compute_fitness(task.fitness, sample.episodes[0]) == pytest.approx(-forward_distance(sample.episodes[0]))


def test_cheetah_tall_counts_only_the_distance_covered_with_the_torso_high() -> None:
    task = load_task(CHEETAH_TALL)
    assert task.adapter.spec == load_task("halfcheetah").adapter.spec
    episode = _episode(task.adapter.spec, x_position=[0.0, 1.0, 3.0, 6.0], torso_height=[0.65, 0.62, 0.3, 0.7])
    assert compute_fitness(task.fitness, episode) == pytest.approx(1.0 + 3.0)  # the crouched step's 2 m not counted


def test_the_offline_designer_reads_backwards_from_the_description() -> None:
    forward = {e.term.name: e for e in term_pool(load_task("hopper").adapter.spec, load_task("hopper").description)}
    task = load_task(HOPPER_BACKWARD)
    backward = {e.term.name: e for e in term_pool(task.adapter.spec, task.description)}
    assert forward["x_velocity_progress"].term.sign == 1
    assert backward["x_velocity_progress"].term.sign == -1
    assert backward["x_velocity_progress"].p >= 0.5  # part of the first, most likely reward
    assert "torso_angle_closeness" in backward  # the health rule's pitch target is offered as a term

"""The K-arm JAX PPO round: shapes and records, per-arm NaN quarantine, different rewards → different
policies in one program, the exported NumPy policy, the fitness accumulators, and one learning check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

from rewardsmith.envs.backends.jax.driver import Arm, RoundConfig, RoundResult, train_round  # noqa: E402
from rewardsmith.envs.backends.jax.metrics import JAX_METRICS  # noqa: E402
from rewardsmith.envs.backends.jax.policy import NumpyPolicy, is_jax_policy, save_policy  # noqa: E402
from rewardsmith.envs.backends.jax.ppo import ActorCritic, PPOConfig  # noqa: E402
from rewardsmith.envs.backends.jax.registry import make_jax_env  # noqa: E402
from rewardsmith.envs.evaluation import play_episode  # noqa: E402
from rewardsmith.envs.fitness import BUILTIN_METRICS, Episode  # noqa: E402
from rewardsmith.envs.tasks import load_task  # noqa: E402


def push_right(params, state, action):
    r = params["w"] * action[:, 0]
    return r, {"push": r}


def push_left(params, state, action):
    r = -action[:, 0] + 0.0 * state["position"]
    return r, {"push": r, "zero": jnp.zeros_like(r)}


def goes_nan(params, state, action):
    r = jnp.where(state["position"] > -5.0, jnp.nan, 0.0)
    return r, {"bad": r}


N_ENVS, N_STEPS = 4, 64


@pytest.fixture(scope="module")
def mc_round() -> RoundResult:
    arms = [Arm("human", "env"), Arm("sparse", "sparse"), Arm("right", "candidate", push_right, {"w": 1.0}),
            Arm("left", "candidate", push_left), Arm("nan", "candidate", goes_nan)]
    config = RoundConfig(steps=3 * N_ENVS * N_STEPS, n_envs=N_ENVS, seed=0,
                         ppo=PPOConfig(n_steps=N_STEPS, batch_size=64, n_epochs=4, learning_rate=3e-3),
                         rollouts_per_call=2)
    return train_round(make_jax_env("MountainCarContinuous-v0"), arms, config, "flag_progress")


def test_every_arm_has_its_records_and_policy(mc_round: RoundResult) -> None:
    assert [a.name for a in mc_round.arms] == ["human", "sparse", "right", "left", "nan"]
    assert mc_round.steps_per_arm == 3 * N_ENVS * N_STEPS and mc_round.env_steps == 5 * mc_round.steps_per_arm
    assert mc_round.compile_s > 0 and mc_round.run_s > 0
    human, sparse, right, left = mc_round.arms[:4]
    assert human.components == ("env_reward",) and sparse.components == ("fitness_at_end",)
    assert left.components == ("push", "zero")
    assert [cp.timesteps for cp in right.checkpoints] == [256, 512, 768]
    cp = left.checkpoints[0]
    assert set(cp.component_step_means) == {"push", "zero"} and cp.component_step_means["zero"] == 0.0
    assert cp.episodes == 0 and cp.episode_length is None  # 64-step rollouts: no 999-step episode ends
    assert human.checkpoints[-1].component_step_means["env_reward"] < 0  # -0.1·a², no flag yet
    assert right.params["params/pi_0/kernel"].shape == (2, 64)
    assert right.params["params/pi_out/kernel"].shape == (64, 1)


def test_a_nan_reward_is_quarantined_and_the_others_train_on(mc_round: RoundResult) -> None:
    nan = mc_round.arms[4]
    assert nan.status == "nan" and "NaN" in (nan.error or "")
    assert nan.steps_done == 10 * N_ENVS  # frozen on the 10th NaN step in a row, as the SB3 backend
    assert nan.checkpoints == () and nan.nonfinite_steps == 10
    assert all(a.status == "ok" and a.steps_done == mc_round.steps_per_arm for a in mc_round.arms[:4])
    # Its policy never got an update: it is the common initial policy, which every other arm left.
    init = mc_round.arms[4].params["params/pi_out/kernel"]
    for arm in mc_round.arms[:4]:
        assert not np.allclose(arm.params["params/pi_out/kernel"], init)


def test_two_rewards_in_one_program_give_opposite_policies(mc_round: RoundResult, tmp_path: Path) -> None:
    env = make_jax_env("MountainCarContinuous-v0")
    means = {}
    for arm in mc_round.arms[2:4]:
        path = tmp_path / f"{arm.name}.npz"
        save_policy(path, arm.params, env.discrete, env.action_low, env.action_high)
        assert is_jax_policy(path)
        action, _ = NumpyPolicy.load(path).predict(np.array([-0.5, 0.0], np.float32))
        means[arm.name] = float(action[0])
    assert means["right"] > 0.05 and means["left"] < -0.05, means


def test_numpy_policy_is_the_trained_network(mc_round: RoundResult) -> None:
    env = make_jax_env("MountainCarContinuous-v0")
    arm = mc_round.arms[2]
    tree: dict = {}
    for key, value in arm.params.items():
        node = tree
        *path, leaf = key.split("/")
        for part in path:
            node = node.setdefault(part, {})
        node[leaf] = jnp.asarray(value)
    net = ActorCritic(env.n_actions, env.discrete, (64, 64), 0.0)
    obs = np.random.default_rng(0).normal(size=(16, 2)).astype(np.float32)
    head, _, _ = net.apply(tree, jnp.asarray(obs))
    policy = NumpyPolicy(arm.params, _meta(env))
    np.testing.assert_allclose(policy.head(obs), np.asarray(head), rtol=1e-5, atol=1e-6)


def _meta(env):
    from rewardsmith.envs.backends.jax.policy import PolicyMeta

    return PolicyMeta(env.discrete, env.action_low, env.action_high, 2)


@pytest.mark.parametrize("metric", sorted(set(JAX_METRICS) - {"neg_target_distance", "neg_object_goal_distance"}))
def test_fitness_accumulators_match_the_numpy_metrics(metric: str) -> None:
    task = load_task({"balance_steps": "cartpole", "upright_fraction": "pendulum", "flag_progress": "mountain-car",
                      "env_return": "pendulum", "forward_distance": "halfcheetah"}[metric])
    rng = np.random.default_rng(1)
    spec = task.adapter.spec
    rows = rng.normal(size=(37, spec.size)) * 0.5
    rewards = rng.normal(size=37)
    episode = Episode.from_rows(spec, list(rows), list(np.zeros((37, spec.action.dim))), list(rewards), True, False)
    m = JAX_METRICS[metric]
    acc = m.init()
    for t in range(37):
        fields = {f.name: jnp.asarray(rows[t, s].reshape(f.shape), jnp.float32) for f, s in spec.slices()}
        acc = m.update(acc, fields, jnp.float32(rewards[t]), jnp.bool_(t == 0))
    assert float(m.value(acc, jnp.int32(37))) == pytest.approx(BUILTIN_METRICS[metric](episode), rel=1e-4, abs=1e-4)


def test_ppo_settings_come_from_the_task_file() -> None:
    config = PPOConfig.from_task({"n_steps": 256, "batch_size": 256, "gamma": 0.9, "use_sde": True})
    assert (config.n_steps, config.batch_size, config.gamma, config.n_epochs) == (256, 256, 0.9, 10)
    assert PPOConfig.ignored({"use_sde": True, "gamma": 0.9}) == ("use_sde",)


def test_cartpole_learns_in_one_round_at_the_task_budget(tmp_path: Path) -> None:
    task = load_task("cartpole")
    env = make_jax_env("CartPole-v1")
    config = RoundConfig(steps=task.train.steps, n_envs=task.train.n_envs, seed=0,
                         ppo=PPOConfig.from_task(task.train.ppo), rollouts_per_call=4)
    result = train_round(env, [Arm("human", "env")], config, task.fitness_ref)
    arm = result.arms[0]
    assert arm.checkpoints[-1].episode_length > arm.checkpoints[0].episode_length
    path = tmp_path / "policy.npz"
    save_policy(path, arm.params, env.discrete, env.action_low, env.action_high)
    policy, genv = NumpyPolicy.load(path), task.make_env()
    lengths = [play_episode(genv, task.adapter, policy, seed).length for seed in range(1_050_000, 1_050_005)]
    assert np.mean(lengths) >= 300, lengths  # the SB3 backend's PPO defaults need ~15k steps for 475


def test_a_round_past_its_time_bound_stops_between_calls() -> None:
    config = RoundConfig(steps=4 * 2 * 8, n_envs=2, seed=0, ppo=PPOConfig(n_steps=8, batch_size=16, n_epochs=1),
                         rollouts_per_call=1)
    with pytest.raises(TimeoutError, match="compiled"):
        train_round(make_jax_env("CartPole-v1"), [Arm("human", "env")], config, "balance_steps", timeout_s=0.0)


# -- a task's own fitness on the host, and each arm's own training seed ------------------------------------------
TINY = RoundConfig(steps=2 * 4 * 32, n_envs=4, seed=0, rollouts_per_call=2,
                   ppo=PPOConfig(n_steps=32, batch_size=64, n_epochs=1, hidden=(16,)))


def twice_the_length(episode: Episode) -> float:
    return 2.0 * episode.length


def _seeded_round(arms: list[Arm]) -> RoundResult:
    from rewardsmith.envs.backends.jax.episodes import in_process

    env = make_jax_env("CartPole-v1")
    return train_round(env, arms, TINY, "fit.py:twice", scorer=in_process(env.spec, twice_the_length, "fit.py:twice"))


@pytest.fixture(scope="module")
def seeded_round() -> RoundResult:
    """A sparse arm paid by a task's own fitness function (not a built-in metric) and two env-reward arms: one on the
    round's seed, like the sparse arm, and one on a seed of its own."""
    return _seeded_round([Arm("sparse", "sparse"), Arm("human", "env"), Arm("human7", "env", seed=7)])


def test_a_sparse_arm_is_paid_the_tasks_own_fitness_at_each_episode_end(seeded_round: RoundResult) -> None:
    sparse = seeded_round.arms[0]
    assert sparse.status == "ok" and sparse.components == ("fitness_at_end",)
    ended = [cp for cp in sparse.checkpoints if cp.episodes]
    assert ended, "no episode ended: nothing was paid"
    for cp in ended:  # paid at the end of every episode of every env, exactly its fitness: 2 × its length
        assert cp.reward_return == cp.fitness == pytest.approx(2 * cp.episode_length)
        assert cp.component_returns == {"fitness_at_end": pytest.approx(cp.reward_return)}
    assert sum(cp.component_step_means["fitness_at_end"] for cp in sparse.checkpoints) > 0


def test_arms_on_one_seed_share_their_randomness_and_an_arm_on_its_own_seed_does_not(seeded_round: RoundResult) -> None:
    sparse, human, human7 = (arm.checkpoints[0] for arm in seeded_round.arms)
    # Same initial policy, resets, env and action noise: the first rollout (before any update) is the same episodes.
    assert (sparse.episodes, sparse.episode_length) == (human.episodes, human.episode_length)
    assert (human7.episodes, human7.episode_length) != (human.episodes, human.episode_length)


@pytest.mark.slow  # a second compile (~5 s)
def test_an_arms_training_does_not_depend_on_the_arms_beside_it(seeded_round: RoundResult) -> None:
    """What the final comparison's resume and the isolation rely on: an arm retrained alone trains the same."""
    (alone,) = _seeded_round([Arm("human7", "env", seed=7)]).arms
    beside = seeded_round.arms[2]
    assert alone.checkpoints == beside.checkpoints
    for name, value in alone.params.items():
        np.testing.assert_allclose(value, beside.params[name], atol=1e-6)

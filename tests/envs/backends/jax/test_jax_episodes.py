"""A task's own fitness function over a JAX round's training episodes: stitched across calls, scored on the host;
the sparse arm paid it at each episode end; the function in its bounded child process."""

from __future__ import annotations

import numpy as np
import pytest

from rewardsmith.core.errors import FitnessError
from rewardsmith.envs.backends.jax.episodes import EpisodeFitness, Sampled, SparseFitness, in_process
from rewardsmith.envs.fitness import Episode
from rewardsmith.envs.tasks import load_task

SPEC = load_task("cartpole").adapter.spec  # 4 fields, 1 action


def _call(rollouts: int, steps: int, ends: dict[tuple[int, int, int, int], str], start: float) -> Sampled:
    """Steps of K=2 arms × m=2 envs; each row's ``cart_position`` counts up from ``start``; ``ends`` marks where an
    episode terminated ("t") or was truncated ("x"), by (rollout, step, arm, env)."""
    shape = (rollouts, steps, 2, 2)
    count = start + np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    rows = np.zeros((*shape, SPEC.size), np.float32)
    rows[..., 0] = count
    terminated, truncated = np.zeros(shape, bool), np.zeros(shape, bool)
    for where, how in ends.items():
        (terminated if how == "t" else truncated)[where] = True
    return Sampled(rows=rows, actions=np.ones((*shape, 1), np.float32), env_reward=np.full(shape, 0.5, np.float32),
                   terminated=terminated, truncated=truncated)


def test_episodes_are_scored_when_they_end_even_across_calls() -> None:
    scored: list[Episode] = []

    def score(episode: Episode) -> float:
        scored.append(episode)
        return float(episode.length)

    fitness = EpisodeFitness(in_process(SPEC, score, "fit.py:score"))
    # Call 1 (2 rollouts × 3 steps): arm 0 env 1 terminates at its 5th step (rollout 1, step 1); arm 1 env 0
    # is truncated at its 2nd step. Nothing else ends.
    sums, counts = fitness.rollouts(_call(2, 3, {(1, 1, 0, 1): "t", (0, 1, 1, 0): "x"}, start=0.0))
    assert counts.tolist() == [[0, 1], [1, 0]] and sums.tolist() == [[0.0, 2.0], [5.0, 0.0]]
    # Call 2: arm 0 env 0 ends at its 9th step, after 6 steps in call 1 and 3 here.
    sums, counts = fitness.rollouts(_call(1, 3, {(0, 2, 0, 0): "t"}, start=100.0))
    assert counts.tolist() == [[1, 0]] and sums.tolist() == [[9.0, 0.0]]
    truncated, terminated, long = scored
    assert (truncated.truncated, truncated.terminated) == (True, False) and truncated.length == 2
    assert terminated.terminated and not terminated.truncated
    # The rows of one env, in order, across both calls (arm 0 env 0 is the first of every step's 4 rows).
    assert long.state.cart_position.tolist() == [0, 4, 8, 12, 16, 20, 100, 104, 108]
    assert long.env_rewards.tolist() == [0.5] * 9 and long.actions.shape == (9, 1)


def test_a_fitness_function_that_fails_is_the_tasks_fault() -> None:
    def broken(episode: Episode) -> float:
        raise RuntimeError("the scorer is broken")

    with pytest.raises(FitnessError, match=r"fitness function 'fit\.py:score' raised RuntimeError"):
        EpisodeFitness(in_process(SPEC, broken, "fit.py:score")).rollouts(_call(1, 2, {(0, 1, 0, 0): "t"}, start=0.0))


@pytest.mark.slow  # compiles a round (~10 s)
def test_a_round_with_a_tasks_own_fitness_scores_its_training_episodes_on_the_host() -> None:
    pytest.importorskip("jax")
    from rewardsmith.envs.backends.jax.driver import Arm, RoundConfig, train_round
    from rewardsmith.envs.backends.jax.ppo import PPOConfig
    from rewardsmith.envs.backends.jax.registry import make_jax_env

    def consistent(episode: Episode) -> float:
        """1 when the episode's last (post-step) state is what ended it, as CartPole's bounds say."""
        angle, x = episode.state.pole_angle, episode.state.cart_position
        out_of_bounds = abs(angle[-1]) > 0.2094 or abs(x[-1]) > 2.4
        return float(out_of_bounds == episode.terminated and bool(np.all(np.abs(angle[:-1]) <= 0.2095)))

    config = RoundConfig(steps=4 * 64 * 4, n_envs=4, seed=0, ppo=PPOConfig(n_steps=64, batch_size=64, n_epochs=2),
                         rollouts_per_call=2)
    env = make_jax_env("CartPole-v1")
    result = train_round(env, [Arm("human", "env"), Arm("sparse-free", "env")], config,
                         "fit.py:consistent", scorer=in_process(env.spec, consistent, "fit.py:consistent"))
    for arm in result.arms:  # without it every checkpoint's fitness was None: a custom fitness runs on the host only
        assert [cp.fitness for cp in arm.checkpoints] == [1.0] * 4


def _sparse_steps(steps: int, ends: dict[tuple[int, int, int], str], start: float) -> Sampled:
    """A rollout of S=2 sparse arms × n=3 envs, ``cart_position`` counting up from ``start``; ``ends`` by (step, arm,
    env)."""
    shape = (steps, 2, 3)
    rows = np.zeros((*shape, SPEC.size), np.float32)
    rows[..., 0] = start + np.arange(np.prod(shape)).reshape(shape)
    terminated, truncated = np.zeros(shape, bool), np.zeros(shape, bool)
    for where, how in ends.items():
        (terminated if how == "t" else truncated)[where] = True
    return Sampled(rows=rows, actions=np.ones((*shape, 1), np.float32), env_reward=np.ones(shape, np.float32),
                   terminated=terminated, truncated=truncated)


def test_a_sparse_arm_is_paid_each_episodes_fitness_at_the_step_it_ended() -> None:
    calls: list[int] = []

    def scorer(episodes):  # one batch per rollout; the value says which episode it was
        calls.append(len(episodes))
        return [10.0 * e.episode(SPEC).length + e.rows[0, 0] for e in episodes]

    sparse = SparseFitness(scorer)
    paid = sparse.rollout(_sparse_steps(4, {(1, 0, 2): "t", (3, 1, 0): "x"}, start=0.0))
    assert paid.shape == (4, 2, 3) and paid.dtype == np.float32
    ended = ~np.isnan(paid)
    assert ended.sum() == 2 and calls == [2]
    assert paid[1, 0, 2] == 20.0 + 2  # 2 steps, its first row the third of step 0
    assert paid[3, 1, 0] == 40.0 + 3  # truncated at its 4th step: paid all the same
    # An episode that runs on into the next rollout is paid there, with its rows from both.
    paid = sparse.rollout(_sparse_steps(2, {(0, 0, 1): "t"}, start=100.0))
    assert np.count_nonzero(~np.isnan(paid)) == 1 and paid[0, 0, 1] == 50.0 + 1
    assert calls == [2, 1]


def test_a_fitness_failure_in_the_callback_is_kept_for_the_host_and_pays_nothing() -> None:
    def broken(episode: Episode) -> float:
        raise RuntimeError("the scorer is broken")

    sparse = SparseFitness(in_process(SPEC, broken, "fit.py:score"))
    paid = sparse.rollout(_sparse_steps(2, {(1, 1, 1): "t"}, start=0.0))  # a callback must not raise
    assert np.isnan(paid).all() and sparse.error is not None and "RuntimeError" in str(sparse.error)

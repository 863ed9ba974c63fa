"""A task's own fitness function over a JAX round's training episodes: stitched across calls, scored on the host."""

from __future__ import annotations

import numpy as np
import pytest

from rewardsmith.core.errors import FitnessError
from rewardsmith.envs.backends.jax.episodes import EpisodeFitness, Sampled
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

    fitness = EpisodeFitness(SPEC, score, "fit.py:score")
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
        EpisodeFitness(SPEC, broken, "fit.py:score").rollouts(_call(1, 2, {(0, 1, 0, 0): "t"}, start=0.0))


@pytest.mark.slow  # compiles a round (~10 s)
def test_a_round_with_a_tasks_own_fitness_scores_its_training_episodes_on_the_host() -> None:
    pytest.importorskip("jax")
    from rewardsmith.envs.backends.jax.ppo import PPOConfig
    from rewardsmith.envs.backends.jax.program import Arm, RoundConfig, train_round
    from rewardsmith.envs.backends.jax.registry import make_jax_env

    def consistent(episode: Episode) -> float:
        """1 when the episode's last (post-step) state is what ended it, as CartPole's bounds say."""
        angle, x = episode.state.pole_angle, episode.state.cart_position
        out_of_bounds = abs(angle[-1]) > 0.2094 or abs(x[-1]) > 2.4
        return float(out_of_bounds == episode.terminated and bool(np.all(np.abs(angle[:-1]) <= 0.2095)))

    config = RoundConfig(steps=4 * 64 * 4, n_envs=4, seed=0, ppo=PPOConfig(n_steps=64, batch_size=64, n_epochs=2),
                         rollouts_per_call=2)
    result = train_round(make_jax_env("CartPole-v1"), [Arm("human", "env"), Arm("sparse-free", "env")], config,
                         "fit.py:consistent", episode_fitness=consistent)
    for arm in result.arms:  # without it every checkpoint's fitness was None: a custom fitness runs on the host only
        assert [cp.fitness for cp in arm.checkpoints] == [1.0] * 4

"""Cross-backend contract: a JAX env and the Gymnasium adapter report the same fields for the same physical state.

Both backends are put in the same state (Gymnasium's ``env.unwrapped.state`` and the gymnax state set
to the same numbers), stepped with the same action, and every field of the task's StateSpec is
compared, together with the observation, the env's reward and the end-of-episode flags.
"""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

from rewardsmith.envs.backends.jax.envs import CLASSIC_ENVS, JaxEnv  # noqa: E402
from rewardsmith.envs.backends.jax.registry import jax_env_ids, make_jax_env  # noqa: E402
from rewardsmith.envs.tasks import ADAPTERS  # noqa: E402

# Physical states (the Gymnasium env's ``state`` vector) and actions, chosen to cover the interesting cases:
# a terminal step, the left wall of the valley, the flag, a pendulum past ±pi.
CASES = {
    "CartPole-v1": [([0.1, -0.3, 0.05, 0.2], 1), ([2.39, 1.0, 0.0, 0.0], 1), ([0.0, 0.0, -0.2, -0.5], 0)],
    "Pendulum-v1": [([3.1, 0.5], [1.5]), ([-3.0, -7.9], [-2.0]), ([0.2, 0.0], [0.3])],
    "MountainCarContinuous-v0": [([-0.5, 0.0], [0.7]), ([-1.19, -0.02], [-1.0]), ([0.449, 0.01], [1.0]),
                                 ([0.3, -0.01], [0.2])],
}


def _jax_state(env: JaxEnv, physical: list[float]) -> object:
    state, _ = env.reset(jax.random.PRNGKey(0))
    names = {"CartPole-v1": ("x", "x_dot", "theta", "theta_dot"), "Pendulum-v1": ("theta", "theta_dot"),
             "MountainCarContinuous-v0": ("position", "velocity")}[env.env_id]
    return state.replace(**{n: jnp.float32(v) for n, v in zip(names, physical, strict=True)})


@pytest.mark.parametrize("env_id", sorted(CASES))
def test_same_state_same_fields_on_both_backends(env_id: str) -> None:
    adapter = ADAPTERS[env_id]()
    jenv = make_jax_env(env_id)
    assert jenv.spec is adapter.spec, "the JAX env must use the Gymnasium adapter's spec object"
    genv = adapter.make_env()
    for physical, action in CASES[env_id]:
        genv.reset(seed=0)
        genv.unwrapped.state = np.array(physical, dtype=np.float64 if env_id == "Pendulum-v1" else np.float32)
        obs, reward, terminated, _, _ = genv.step(np.array(action) if env_id != "CartPole-v1" else action)
        expected = adapter.spec.unpack(adapter.read(genv, obs)[None, :]).as_dict()
        out = jenv.step(jax.random.PRNGKey(1), _jax_state(jenv, physical),
                        jnp.asarray(action, jnp.int32 if jenv.discrete else jnp.float32))
        got = jenv.fields(out.state)
        assert list(got) == list(adapter.spec.names)
        for name, value in expected.items():
            np.testing.assert_allclose(np.asarray(got[name]), value[0], rtol=1e-4, atol=1e-5, err_msg=name)
        np.testing.assert_allclose(np.asarray(out.obs), obs, rtol=1e-4, atol=1e-5)
        assert float(out.env_reward) == pytest.approx(float(reward), rel=1e-4, abs=1e-4)
        assert bool(out.terminated) == bool(terminated)
        np.testing.assert_allclose(np.asarray(jenv.action_row(jnp.asarray(action))), adapter.action_row(action),
                                   rtol=1e-6)


@pytest.mark.parametrize("env_id", sorted(CLASSIC_ENVS))
def test_time_limit_is_truncation_not_termination(env_id: str) -> None:
    env = make_jax_env(env_id)
    state, _ = env.reset(jax.random.PRNGKey(3))
    state = state.replace(time=env.max_steps - 1)
    if env_id == "CartPole-v1":
        state = state.replace(x=0.0, x_dot=0.0, theta=0.0, theta_dot=0.0)
    action = jnp.int32(1) if env.discrete else jnp.zeros(env.n_actions, jnp.float32)
    out = env.step(jax.random.PRNGKey(4), state, action)
    assert bool(out.truncated) and not bool(out.terminated)
    assert env.max_steps == {"CartPole-v1": 500, "Pendulum-v1": 200, "MountainCarContinuous-v0": 999}[env_id]


def test_unknown_env_id_lists_the_valid_ones() -> None:
    with pytest.raises(KeyError, match="CartPole-v1"):
        make_jax_env("Nope-v0")
    assert {"CartPole-v1", "Hopper-v5"} <= set(jax_env_ids())

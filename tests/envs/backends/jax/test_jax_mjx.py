"""MJX locomotion envs: same fields as the Gymnasium adapters for the same qpos/qvel (compile-heavy on CPU: slow)."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("mujoco.mjx")
import jax.numpy as jnp  # noqa: E402

from rewardsmith.envs.backends.jax.registry import make_jax_env  # noqa: E402
from rewardsmith.envs.tasks import ADAPTERS  # noqa: E402


@pytest.mark.parametrize("env_id", ["Hopper-v5", "HalfCheetah-v5"])
def test_mjx_env_has_the_gymnasium_spec_and_spaces(env_id: str) -> None:
    env, genv = make_jax_env(env_id), ADAPTERS[env_id]().make_env()
    assert env.spec is ADAPTERS[env_id].spec
    assert env.obs_dim == genv.observation_space.shape[0] and env.n_actions == genv.action_space.shape[0]
    assert env.dt == pytest.approx(genv.unwrapped.dt)


@pytest.mark.slow
@pytest.mark.parametrize("env_id", ["Hopper-v5", "HalfCheetah-v5"])
def test_same_qpos_qvel_same_fields_on_both_backends(env_id: str) -> None:
    adapter = ADAPTERS[env_id]()
    env, genv = make_jax_env(env_id), adapter.make_env()
    genv.reset(seed=0)
    qpos = np.array(genv.unwrapped.init_qpos)
    qvel = np.zeros_like(genv.unwrapped.init_qvel)
    qpos[1] += 0.3  # in the air: no contact, so float32 MJX and float64 MuJoCo agree closely
    qvel[0], qvel[3] = 0.5, 1.0
    genv.unwrapped.set_state(qpos, qvel)
    action = np.linspace(-0.8, 0.8, env.n_actions)
    obs, reward, terminated, _, _ = genv.step(action)
    expected = adapter.spec.unpack(adapter.read(genv, obs)[None, :]).as_dict()
    out = jax.jit(env.step)(jax.random.PRNGKey(0), jax.jit(env.state_from)(qpos, qvel),
                            jnp.asarray(action, jnp.float32))
    got = env.fields(out.state)
    assert list(got) == list(adapter.spec.names)
    for name, value in expected.items():
        np.testing.assert_allclose(np.asarray(got[name]), value[0], rtol=1e-4, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(np.asarray(out.obs), obs, rtol=1e-4, atol=1e-5)
    assert float(out.env_reward) == pytest.approx(reward, rel=1e-4, abs=1e-5)
    assert bool(out.terminated) == terminated

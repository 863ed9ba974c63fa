"""MJX MuJoCo envs (the GPU physics): the Gymnasium spec and spaces for every task; the same fields as the
Gymnasium adapters for the same qpos/qvel (compile-heavy on a CPU: slow)."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("mujoco.mjx")
import jax.numpy as jnp  # noqa: E402

from rewardsmith.envs.backends.jax.mujoco_rules import RULES  # noqa: E402
from rewardsmith.envs.backends.jax.registry import make_jax_env  # noqa: E402
from rewardsmith.envs.tasks import ADAPTERS  # noqa: E402
from tests.support.mujoco_states import CONTACTS, actions, start_state  # noqa: E402

TOL = {"Humanoid-v5": 2e-3}
"""MJX (float32; Newton instead of Humanoid's PGS) against Gymnasium (float64) over 3 steps; default 1e-4."""

DIVERGES = {
    "Ant-v5": "MJX's first ground contact differs from C MuJoCo's on Gymnasium's ant.xml (measured on this CPU: "
              "contact force off by 2.0, x_velocity by 3.8e-2, angular_velocity by 0.78 at step 1; identical "
              "to 5e-7 before contact); not yet explained, so an Ant run on MJX is not bit-comparable",
}
"""Known MJX-vs-C differences (strict xfail: the test says so the day they agree)."""


@pytest.mark.parametrize("env_id", sorted(RULES))
def test_mjx_env_has_the_gymnasium_spec_and_spaces(env_id: str) -> None:
    env, genv = make_jax_env(env_id, "mjx"), ADAPTERS[env_id]().make_env()
    assert env.spec is ADAPTERS[env_id].spec
    assert env.obs_dim == genv.observation_space.shape[0] and env.n_actions == genv.action_space.shape[0]
    assert (env.action_low, env.action_high) == (genv.action_space.low[0], genv.action_space.high[0])
    assert env.dt == pytest.approx(genv.unwrapped.dt) and env.max_steps == genv.spec.max_episode_steps


@pytest.mark.slow
@pytest.mark.parametrize("env_id", [pytest.param(e, marks=pytest.mark.xfail(reason=DIVERGES[e], strict=True))
                                    if e in DIVERGES else e for e in sorted(RULES)])
def test_same_qpos_qvel_same_fields_on_both_backends(env_id: str) -> None:
    adapter = ADAPTERS[env_id]()
    env, genv = make_jax_env(env_id, "mjx"), adapter.make_env()
    genv.reset(seed=0)
    qpos, qvel = start_state(env_id)
    genv.unwrapped.set_state(qpos, qvel)
    state = jax.jit(env.state_from)(qpos, qvel)
    step = jax.jit(env.step)
    tol = TOL.get(env_id, 1e-4)
    contact = 0.0
    for t, action in enumerate(actions(env.action_low, env.action_high, env.n_actions, 3)):
        obs, reward, terminated, _, _ = genv.step(action)
        expected = adapter.spec.unpack(adapter.read(genv, obs)[None, :]).as_dict()
        out = step(jax.random.PRNGKey(0), state, jnp.asarray(action, jnp.float32))
        state = out.state
        got = env.fields(state)
        assert set(got) == set(adapter.spec.names)
        for name, value in expected.items():
            np.testing.assert_allclose(np.asarray(got[name]), value[0], rtol=tol, atol=tol, err_msg=f"{name} @ {t}")
        np.testing.assert_allclose(np.asarray(out.obs), obs, rtol=tol, atol=tol, err_msg=f"obs @ {t}")
        assert float(out.env_reward) == pytest.approx(reward, rel=tol, abs=tol)
        assert bool(out.terminated) == terminated
        contact = max(contact, float(np.abs(expected.get("contact_forces", np.zeros(1))).max()))
    if env_id in CONTACTS:  # the case exercises MJX's contact forces (rne_postconstraint)
        assert contact > 0

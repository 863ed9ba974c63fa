"""Native physics: MuJoCo's C engine under the jax backend gives what Gymnasium v5 gives, for every MuJoCo task.

The contract test puts the native env and the Gymnasium env in the same qpos/qvel, steps both a few
times with the same actions and compares every state field (the adapter's own read), the
observation, the env's reward and the end-of-episode flag. The others check the plumbing the
round relies on: one host call per batch, a reset built in JAX that equals the forward pass, the
time limit, and threads that change nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

from rewardsmith.envs.backends.jax.mujoco_rules import RULES  # noqa: E402
from rewardsmith.envs.backends.jax.native_envs import NativeMujocoEnv  # noqa: E402
from rewardsmith.envs.backends.jax.native_physics import BatchStepper, split64  # noqa: E402
from rewardsmith.envs.tasks import ADAPTERS  # noqa: E402
from tests.support.mujoco_states import CONTACTS, FALLS, actions, start_state  # noqa: E402

QUICK = {"Hopper-v5", "Ant-v5", "Reacher-v5"}
"""One task of each kind runs by default (a planar walker, a free body with contact forces, an arm whose reset
needs the forward pass); the others are ``slow`` (each compiles its own step, ~1 s)."""


def _quick_or_slow(env_ids: Any) -> list[Any]:
    return [e if e in QUICK else pytest.param(e, marks=pytest.mark.slow) for e in sorted(env_ids)]


def _compare(env_id: str, qpos: np.ndarray, qvel: np.ndarray, steps: int) -> list[dict[str, Any]]:
    """Step both from (qpos, qvel); every step's expected fields, and assert both agree on everything."""
    adapter = ADAPTERS[env_id]()
    genv, env = adapter.make_env(), NativeMujocoEnv(env_id, threads=1)
    assert env.spec is adapter.spec and env.obs_dim == genv.observation_space.shape[0]
    genv.reset(seed=0)
    genv.unwrapped.set_state(qpos, qvel)
    state = env.state_from(qpos, qvel)
    step, fields = jax.jit(env.step), jax.jit(env.fields)
    seen = []
    for t, action in enumerate(actions(env.action_low, env.action_high, env.n_actions, steps)):
        obs, reward, terminated, _, _ = genv.step(action)
        expected = adapter.spec.unpack(adapter.read(genv, obs)[None, :]).as_dict()
        out = step(jax.random.PRNGKey(0), state, jnp.asarray(action, jnp.float32))
        state = out.state
        got = fields(state)
        assert set(got) == set(adapter.spec.names)
        for name, value in expected.items():
            np.testing.assert_allclose(np.asarray(got[name]), value[0], rtol=2e-5, atol=2e-5, err_msg=f"{name} @ {t}")
        np.testing.assert_allclose(np.asarray(out.obs), obs, rtol=2e-5, atol=2e-5, err_msg=f"obs @ {t}")
        assert float(out.env_reward) == pytest.approx(float(reward), rel=1e-5, abs=1e-5)
        assert bool(out.terminated) == terminated
        seen.append({name: value[0] for name, value in expected.items()} | {"terminated": terminated})
        if terminated:
            break
    genv.close()
    env.stepper.close()
    return seen


@pytest.mark.parametrize("env_id", _quick_or_slow(RULES))
def test_same_qpos_qvel_same_fields_obs_and_reward_as_gymnasium(env_id: str) -> None:
    seen = _compare(env_id, *start_state(env_id), steps=3)
    if env_id in CONTACTS:  # the case exercises the contact forces (observation and contact cost)
        assert max(np.abs(s["contact_forces"]).max() for s in seen) > 0


@pytest.mark.parametrize("env_id", _quick_or_slow(FALLS))
def test_an_unhealthy_step_ends_the_episode_on_both(env_id: str) -> None:
    seen = _compare(env_id, *start_state(env_id, FALLS[env_id]), steps=1)
    assert seen[-1]["terminated"] and seen[-1]["healthy"] == 0.0


@pytest.mark.parametrize("env_id", _quick_or_slow(e for e, r in RULES.items() if not r.kinematic_reset))
def test_a_reset_built_in_jax_equals_the_forward_pass(env_id: str) -> None:
    """Where the reset skips the host, its observation and the tracked point are the forward pass's."""
    env = NativeMujocoEnv(env_id, threads=1)
    state, obs = jax.jit(env.reset)(jax.random.PRNGKey(3))
    nq, nv = env.stepper.model.nq, env.stepper.model.nv
    qpos, qvel = np.asarray(state.hi[:nq], np.float64), np.asarray(state.hi[nq:nq + nv], np.float64)
    exact = env.state_from(qpos, qvel)
    np.testing.assert_allclose(np.asarray(obs), np.asarray(env.rules.obs(env._unpack(exact.reads))), atol=1e-6)
    np.testing.assert_allclose(np.asarray(state.hi), np.asarray(exact.hi), atol=1e-6)  # the track's start too


def test_the_nested_vmap_reaches_the_host_once_with_the_whole_batch() -> None:
    env = NativeMujocoEnv("Swimmer-v5", threads=2)
    batches: list[tuple[int, ...]] = []
    packed_step = env.stepper.step_packed

    def spy(packed: Any) -> np.ndarray:
        batches.append(np.shape(packed))
        return packed_step(packed)

    env.stepper.step_packed = spy  # type: ignore[method-assign]
    k, n = 3, 4
    states, _ = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(0), n))
    states = jax.tree.map(lambda x: jnp.broadcast_to(x, (k, *x.shape)), states)
    keys = jnp.zeros((k, n, 2), jnp.uint32)
    out = jax.jit(jax.vmap(jax.vmap(env.step)))(keys, states, jnp.zeros((k, n, env.n_actions)))
    assert out.obs.shape == (k, n, env.obs_dim)
    assert len(batches) == 1 and batches[0][:2] == (k, n)


def test_threads_change_nothing() -> None:
    rules = RULES["Ant-v5"](ADAPTERS["Ant-v5"].spec)
    steppers = [BatchStepper(rules, threads) for threads in (1, 2)]
    s = steppers[0]
    rng = np.random.default_rng(0)
    x = np.concatenate([np.tile(s.model.qpos0, (7, 1)) + rng.uniform(-0.1, 0.1, (7, s.model.nq)),
                        rng.uniform(-0.5, 0.5, (7, s.nphys - s.model.nq))], axis=1)
    x[:, s.nstate:] = x[:, :2]  # the tracked point: Ant's torso, at its qpos
    hi, lo = split64(x)
    actions = rng.uniform(-1, 1, (7, s.model.nu)).astype(np.float32)
    one, two = (st.step(hi, lo, actions) for st in steppers)
    for a, b in zip(one, two, strict=True):
        np.testing.assert_array_equal(a, b)
    assert np.abs(one[2]).max() > 0
    for st in steppers:
        st.close()


def test_the_time_limit_truncates() -> None:
    assert {e: r.max_steps for e, r in RULES.items()} == {e: 50 if e == "Reacher-v5" else 100 if e == "Pusher-v5" else 1000
                                                          for e in RULES}
    env = NativeMujocoEnv("Swimmer-v5", threads=1)
    state, _ = env.reset(jax.random.PRNGKey(0))
    out = jax.jit(env.step)(jax.random.PRNGKey(1), state._replace(time=jnp.int32(env.max_steps - 1)), jnp.zeros(2))
    assert bool(out.truncated) and not bool(out.terminated)


def test_physics_is_native_on_a_cpu_and_mjx_on_an_accelerator() -> None:
    from rewardsmith.envs.backends.jax.registry import make_jax_env, physics_for

    assert physics_for("Ant-v5", "cpu") == "native" and physics_for("Ant-v5", "gpu") == "mjx"
    assert physics_for("CartPole-v1", "cpu") is None
    assert isinstance(make_jax_env("Swimmer-v5"), NativeMujocoEnv)  # JAX runs on the CPU here
    with pytest.raises(KeyError, match="native, mjx"):
        make_jax_env("Swimmer-v5", "bullet")  # type: ignore[arg-type]

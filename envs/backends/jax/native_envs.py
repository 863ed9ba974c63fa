"""The MuJoCo tasks on native physics: MuJoCo's C engine steps, the round's JAX program does the rest.

A :class:`NativeMujocoEnv` is a :class:`~envs.backends.jax.envs.JaxEnv` whose ``step`` is one
``jax.pure_callback`` into a :class:`~envs.backends.jax.native_physics.BatchStepper`. Its
``vmap_method="broadcast_all"`` makes the program's nested vmap over arms and envs reach the host
as **one** call with the whole ``(K, n)`` batch, which the stepper runs on every core; everything
else — the observation, the env's reward, the health rule, the state fields, the policy, the
candidates' reward modules, PPO — stays in the compiled program. The state lives in the program's
carry (:class:`NativeState`), so the program stays pure and the host keeps nothing between calls.

The rules (observation, reward, termination, reset noise, time limit, fields) are Gymnasium v5's,
shared with MJX (:mod:`envs.backends.jax.mujoco_rules`); a contract test steps this env and the
Gymnasium env from the same qpos/qvel and compares every field, the observation and the reward.
A reset is built in JAX from the reset noise where that is exact (the planar bodies, Swimmer, Ant);
Humanoid, Reacher and Pusher need the forward kinematics for their first observation, so their reset
is a second callback (``mj_forward`` on the batch). A task on a MuJoCo model steps the model its adapter compiled,
by that task's rules (:mod:`envs.backends.jax.model_rules`: its fields from ``sensordata``, reset by a callback).

This is the CPU physics (``--backend auto`` picks it on a CPU): on a GPU every step would cross to the
host and back, so MJX is the physics there (:func:`envs.backends.jax.registry.task_physics`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rewardsmith.envs.backends.jax.envs import Fields, JaxEnv, Step
from rewardsmith.envs.backends.jax.mujoco_rules import MujocoRules, make_rules, pack, unpack
from rewardsmith.envs.backends.jax.native_physics import BatchStepper, split64

Array = jax.Array


class NativeState(NamedTuple):
    """One env's state in the program's carry."""

    hi: Array
    """(nphys,) float32: the float64 physics state ``hi + lo`` — qpos, qvel, act, qacc_warmstart, then the tracked
    point's x, y (:class:`BatchStepper`)."""
    lo: Array
    """(nphys,) float32."""
    reads: Array
    """(nread,) float32: what the rules read of this state (:meth:`Reads.layout`)."""
    time: Array
    """() int32: env steps since the reset."""


class NativeMujocoEnv(JaxEnv):
    """A Gymnasium v5 MuJoCo task stepped by MuJoCo's C engine on the host, a whole batch per call.

    Args:
        env: the Gymnasium id (one of :data:`~envs.backends.jax.mujoco_rules.RULES`), or a task's rules (a task on a
            model: :class:`~envs.backends.jax.model_rules.ModelRules`).
        threads: the stepper's threads (default: every core this process may use).
    """

    discrete = False

    def __init__(self, env: str | MujocoRules, threads: int | None = None) -> None:
        self.rules: MujocoRules = make_rules(env) if isinstance(env, str) else env
        self.env_id = self.rules.env_id
        self.spec = self.rules.spec
        self.stepper = BatchStepper(self.rules, threads)
        m = self.stepper.model
        self.n_actions = int(m.nu)
        self.action_low, self.action_high = self.rules.action_box()
        self.max_steps = self.rules.max_steps
        self.dt = self.stepper.dt
        self.nbody = int(m.nbody)
        self._qpos0 = jnp.asarray(m.qpos0, jnp.float32)
        self._qvel0 = jnp.zeros(int(m.nv), jnp.float32)
        self._tail = jnp.zeros(self.stepper.nstate - int(m.nq) - int(m.nv), jnp.float32)  # act, qacc_warmstart
        reads = jax.ShapeDtypeStruct((self.stepper.nread,), jnp.float32)
        self.obs_dim = int(jax.eval_shape(lambda r: self.rules.obs(self._unpack(r)), reads).shape[0])

    # -- state ---------------------------------------------------------------------------------------
    def _unpack(self, reads: Array) -> dict[str, Array]:
        return unpack(self.stepper.layout, reads)

    def _call(self, host: Any, *parts: Array) -> NativeState:
        """One callback for a batch: its inputs and outputs packed in one float32 array each (each array a
        callback passes costs ~25 µs of JAX's own handling, per call)."""
        s = self.stepper
        packed = jnp.concatenate([jnp.asarray(p, jnp.float32) for p in parts], axis=-1)
        out = jax.pure_callback(host, jax.ShapeDtypeStruct((2 * s.nphys + s.nread,), jnp.float32), packed,
                                vmap_method="broadcast_all")
        hi, lo, reads = out[:s.nphys], out[s.nphys:2 * s.nphys], out[2 * s.nphys:]
        return NativeState(hi, lo, reads, jnp.zeros((), jnp.int32))

    def state_from(self, qpos: Any, qvel: Any) -> NativeState:
        """The state at ``qpos``/``qvel`` as Gymnasium's ``set_state`` leaves it (its forward pass computed).

        Numpy float64 inputs keep their precision (split on the host); JAX inputs are float32.
        """
        s = self.stepper
        if isinstance(qpos, np.ndarray) and isinstance(qvel, np.ndarray):
            x = np.concatenate([qpos, qvel, np.zeros(s.nstate - qpos.size - qvel.size), np.zeros(2)])
            hi, lo = (jnp.asarray(a) for a in split64(x))
        else:
            hi = jnp.concatenate([jnp.asarray(qpos, jnp.float32), jnp.asarray(qvel, jnp.float32), self._tail,
                                  jnp.zeros(2, jnp.float32)])
            lo = jnp.zeros_like(hi)
        return self._call(self.stepper.forward_packed, hi, lo)  # the forward pass also sets the tracked point

    def reset(self, key: Array) -> tuple[NativeState, Array]:
        qpos, qvel = self.rules.reset_qpos_qvel(key, self._qpos0, self._qvel0)
        if self.rules.kinematic_reset:
            state = self.state_from(qpos, qvel)
            return state, self.rules.obs(self._unpack(state.reads))
        r = self.rules.reset_reads(qpos, qvel, self.nbody)
        hi = jnp.concatenate([qpos, qvel, self._tail, self.rules.track_point(qpos)])
        state = NativeState(hi, jnp.zeros_like(hi), pack(self.stepper.layout, r), jnp.zeros((), jnp.int32))
        return state, self.rules.obs(r)

    # -- step ------------------------------------------------------------------------------------------
    def step(self, key: Array, state: NativeState, action: Array) -> Step:
        new = self._call(self.stepper.step_packed, state.hi, state.lo, action)._replace(time=state.time + 1)
        r = self._unpack(new.reads)
        terminated = self.rules.terminated(r)
        truncated = jnp.logical_and(new.time >= self.max_steps, jnp.logical_not(terminated))
        reward = jnp.asarray(self.rules.reward(r, action), jnp.float32)
        return Step(new, self.rules.obs(r).astype(jnp.float32), reward, terminated, truncated)

    def fields(self, state: NativeState) -> Fields:
        return {k: jnp.asarray(v, jnp.float32) for k, v in self.rules.fields(self._unpack(state.reads)).items()}

    def batch_env_reward(self, fields: Fields, actions: Array, env_reward: Array) -> Array:
        return self.rules.batch_reward(fields, actions, env_reward)


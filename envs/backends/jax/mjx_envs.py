"""The MuJoCo tasks on MJX: the jax backend's GPU physics, inside the round's program.

A :class:`MjxMujocoEnv` steps Gymnasium's own model (``gymnasium/envs/mujoco/assets``) with MJX and
reads it with the same Gymnasium v5 rules as native physics (:mod:`envs.backends.jax.mujoco_rules`:
observation, reward, health, reset noise, time limit, fields), so a policy trained here runs in the
Gymnasium env the evaluator uses and a reward reads the same fields on every engine. A task on a model
steps the model its adapter compiled and reads its ``sensordata`` by the same rules as native physics
(:mod:`envs.backends.jax.model_rules`); MJX lacks some of MuJoCo's sensors (a contact sensor on a body, or
with a net force) and collisions (an ellipsoid against a box): such a model is a one-line error
(:func:`put_model`). MJX computes
in float32 and has no PGS solver: Humanoid's model (PGS in Gymnasium) is solved with Newton here,
which converges to the same constraint forces up to the solvers' tolerances (the slow contract tests
compare every task with Gymnasium within float32 tolerances).

MJX is built for accelerators: on a CPU it is 25–38× slower than MuJoCo's C engine
(shared/notes/perf-baseline.md §5), so a CPU uses native physics (:mod:`envs.backends.jax.native_envs`)
and MJX runs here only in tests on a few steps.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rewardsmith.core.errors import TaskError
from rewardsmith.envs.backends.jax.envs import Fields, JaxEnv, Step
from rewardsmith.envs.backends.jax.mujoco_rules import MujocoRules, body_linvel, make_rules, pack, unpack

Array = jax.Array


class MjxState(NamedTuple):
    data: Any
    """mjx.Data after the step."""
    track: Array
    """(2,) the tracked point's x, y (its displacement over a step is the env's velocity)."""
    reads: Array
    """(nread,) float32: what the rules read of this state (:meth:`Reads.layout`)."""
    time: Array
    """() int32 steps since reset."""


class MjxMujocoEnv(JaxEnv):
    """A Gymnasium v5 MuJoCo task, or a task on a model, on MJX (see the module docstring).

    Args:
        env: the Gymnasium id, or a task's rules (a task on a model: :class:`~envs.backends.jax.model_rules.ModelRules`).

    Raises:
        TaskError: MJX cannot run the model (a sensor or a collision it does not implement), in one line.
    """

    discrete = False

    def __init__(self, env: str | MujocoRules) -> None:
        import mujoco
        from mujoco import mjx

        from rewardsmith.envs.adapters.mujoco import route_mujoco_warnings

        route_mujoco_warnings()
        self._mjx = mjx
        self.rules: MujocoRules = make_rules(env) if isinstance(env, str) else env
        self.env_id, self.spec = self.rules.env_id, self.rules.spec
        self.mj_model = m = self.rules.load_model()
        if m.opt.solver == mujoco.mjtSolver.mjSOL_PGS:
            m.opt.solver = mujoco.mjtSolver.mjSOL_NEWTON  # MJX has no PGS (Humanoid); see the module docstring
        self.model = put_model(m, self.env_id)
        self.dt = float(m.opt.timestep) * self.rules.frame_skip
        self.n_actions = int(m.nu)
        self.action_low, self.action_high = self.rules.action_box()
        self.max_steps = self.rules.max_steps
        self.layout = self.rules.layout(m)
        reads = self.rules.reads
        self._bodies = np.array([m.body(b).id for b in reads.bodies], np.int32)
        self._axes = int(m.body(reads.axes_body).id) if reads.axes_body is not None else None
        self._linvel = int(m.body(reads.linvel_body).id) if reads.linvel_body is not None else None
        self._track_body = int(m.body(reads.track_body).id) if reads.track_body is not None else None
        self._qpos0 = jnp.asarray(m.qpos0, jnp.float32)
        self._qvel0 = jnp.zeros(int(m.nv), jnp.float32)
        self.obs_dim = int(jax.eval_shape(lambda r: self.rules.obs(unpack(self.layout, r)),
                                          jax.ShapeDtypeStruct((sum(int(np.prod(s)) for _, s in self.layout),),
                                                               jnp.float32)).shape[0])

    # -- reads ---------------------------------------------------------------------------------------
    def _track(self, d: Any) -> Array:
        track = self.rules.reads.track
        if track == "body_xy":
            return d.xpos[self._track_body, :2]
        if track == "com_xy":
            return d.subtree_com[1, :2]  # Gymnasium's mass_center: the root body's subtree COM
        if track == "qpos_xy":
            return d.qpos[0:2]
        if track == "qpos_x":
            return jnp.stack([d.qpos[0], jnp.zeros((), d.qpos.dtype)])
        return jnp.zeros(2, jnp.float32)

    def _reads(self, d: Any, velocity: Array) -> Array:
        reads = self.rules.reads
        values: dict[str, Array] = {"qpos": d.qpos, "qvel": d.qvel, "velocity": velocity}
        if reads.bodies:
            values["xpos"] = d.xpos[self._bodies]
        if self._axes is not None:
            values["xaxis"], values["zaxis"] = d.xmat[self._axes][:, 0], d.xmat[self._axes][:, 2]
        if self._linvel is not None:
            root = int(self.mj_model.body_rootid[self._linvel])
            values["linvel"] = body_linvel(jnp, d.cvel[self._linvel], d.xpos[self._linvel] - d.subtree_com[root])
        if reads.cfrc_ext:
            values["cfrc_ext"] = d.cfrc_ext[1:]
        if reads.com_inertia:
            values.update(cinert=d.cinert[1:], cvel=d.cvel[1:], qfrc_actuator=d.qfrc_actuator)
        if reads.sensordata:
            values["sensordata"] = d.sensordata
        return pack(self.layout, values)

    # -- the env ---------------------------------------------------------------------------------------
    def state_from(self, qpos: Array, qvel: Array) -> MjxState:
        """A state at given ``qpos``/``qvel`` with its kinematics computed (as Gymnasium's ``set_state``)."""
        d = self._mjx.make_data(self.model).replace(qpos=jnp.asarray(qpos, jnp.float32),
                                                     qvel=jnp.asarray(qvel, jnp.float32))
        d = self._mjx.forward(self.model, d)
        return MjxState(d, self._track(d), self._reads(d, jnp.zeros(2, jnp.float32)), jnp.zeros((), jnp.int32))

    def reset(self, key: Array) -> tuple[MjxState, Array]:
        qpos, qvel = self.rules.reset_qpos_qvel(key, self._qpos0, self._qvel0)
        state = self.state_from(qpos, qvel)
        return state, self.rules.obs(unpack(self.layout, state.reads)).astype(jnp.float32)

    def step(self, key: Array, state: MjxState, action: Array) -> Step:
        d = state.data.replace(ctrl=jnp.asarray(action, jnp.float32))
        d = jax.lax.fori_loop(0, self.rules.frame_skip, lambda _, d: self._mjx.step(self.model, d), d)
        if self.rules.reads.cfrc_ext:
            d = self._mjx.rne_postconstraint(self.model, d)  # as Gymnasium's do_simulation
        track = self._track(d)
        new = MjxState(d, track, self._reads(d, (track - state.track) / self.dt), state.time + 1)
        r = unpack(self.layout, new.reads)
        terminated = self.rules.terminated(r)
        truncated = jnp.logical_and(new.time >= self.max_steps, jnp.logical_not(terminated))
        reward = jnp.asarray(self.rules.reward(r, action), jnp.float32)
        return Step(new, self.rules.obs(r).astype(jnp.float32), reward, terminated, truncated)

    def fields(self, state: MjxState) -> Fields:
        return {k: jnp.asarray(v, jnp.float32) for k, v in self.rules.fields(unpack(self.layout, state.reads)).items()}

    def batch_env_reward(self, fields: Fields, actions: Array, env_reward: Array) -> Array:
        return self.rules.batch_reward(fields, actions, env_reward)


def put_model(m: Any, name: str) -> Any:
    """``mjx.put_model``, or a one-line :class:`TaskError` naming what of the model MJX does not implement."""
    from mujoco import mjx

    try:
        return mjx.put_model(m)
    except NotImplementedError as exc:
        what = " ".join(str(exc).split()).rstrip(".") or type(exc).__name__
        raise TaskError(f"MJX cannot run the model {name}: {what}") from None

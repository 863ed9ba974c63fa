"""The rules of a task on a MuJoCo model (``model = "robot.xml"``) on the jax backend, for both physics engines.

A task on a model has no Gymnasium v5 rules to reproduce: its env is :class:`~envs.adapters.model_env.ModelEnv`,
and these rules are that env's, read from the same :class:`~envs.adapters.model.ModelAdapter`:

- **the model**: the one the adapter compiled with a sensor per state field; an engine reads ``sensordata``
  after a step (MuJoCo computes sensors before it integrates, as the Gymnasium env reads them);
- **the fields**: :meth:`ModelAdapter.values` over that ``sensordata`` with ``jax.numpy`` — the very code the
  Gymnasium env runs with numpy — so ``healthy`` is the task's parsed ``terminate_when`` rule on both;
- **the observation**: :func:`~envs.adapters.model_env.observation_layout`'s qpos, qvel and state-row elements,
  so a policy trained here runs in the Gymnasium env the evaluator uses;
- **the reset**: the model's ``qpos0`` plus uniform noise of ``reset_noise`` on qpos and normal noise of that size
  on qvel, each quaternion normalised (``mj_normalizeQuat``), then the forward pass (``kinematic_reset``);
- **frame skip and time limit**: the task's ``[physics]`` table;
- **the env's own reward**: the task's ``[physics] reward`` file is user Python, so it never runs in the trainer:
  the job has it traced and exported in the sandbox like a candidate (:mod:`envs.backends.jax.own_reward`) and
  hands the checked module here (:attr:`ModelRules.own_reward`); the program calls it on the whole batch
  (:meth:`ModelRules.batch_reward`: an exported module cannot be vmapped). Without a reward file the env pays 0,
  as the Gymnasium env does; with one whose module is missing, NaN (never a made-up number).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np

from rewardsmith.envs.backends.jax.mujoco_rules import MujocoRules, R, Reads

if TYPE_CHECKING:
    from rewardsmith.envs.adapters.model import ModelAdapter
    from rewardsmith.envs.backends.jax.own_reward import OwnReward

Array = jax.Array


class ModelRules(MujocoRules):
    """A task on a model's rules, per env (see the module docstring).

    Args:
        adapter: the task's adapter (its compiled model, fields, rule, ``[physics]``).
    """

    reads = Reads(sensordata=True)
    kinematic_reset = True

    def __init__(self, adapter: ModelAdapter) -> None:
        import mujoco

        from rewardsmith.envs.adapters.model_env import observation_layout

        super().__init__(adapter.spec)
        self.adapter = adapter
        self.env_id = adapter.env_id
        self.xml = str(adapter.model_file)
        physics = adapter.task.physics
        self.frame_skip, self.max_steps, self.noise = physics.frame_skip, physics.max_steps, physics.reset_noise
        m = adapter.built.model
        keep, rows = observation_layout(adapter.spec, adapter.built)
        self._keep, self._rows = jnp.asarray(keep), jnp.asarray(rows)
        J = mujoco.mjtJoint
        starts = [int(m.jnt_qposadr[j]) + (3 if int(m.jnt_type[j]) == int(J.mjJNT_FREE) else 0)
                  for j in range(m.njnt) if int(m.jnt_type[j]) in (int(J.mjJNT_FREE), int(J.mjJNT_BALL))]
        self._quats = np.array([[s + i for i in range(4)] for s in starts], dtype=np.int32).reshape(-1, 4)
        """(nquat, 4) the qpos addresses of each free or ball joint's quaternion."""
        self.pays_own_reward = adapter.reward_file is not None
        """The task names a reward file: the env's own reward is that file's (and NaN until its module is set)."""
        self.own_reward: OwnReward | None = None
        """The reward file's checked module (set by the job, :func:`envs.backends.jax.own_reward.export_own_reward`)."""

    def action_box(self) -> tuple[float | np.ndarray, float | np.ndarray]:
        """The actuators' control ranges: one pair when they share it, else one bound per actuator (float32), as the
        Gymnasium env's action space."""
        built = self.adapter.built
        if len(set(built.action_low)) == 1 and len(set(built.action_high)) == 1:
            return built.action_low[0], built.action_high[0]
        return np.asarray(built.action_low, np.float32), np.asarray(built.action_high, np.float32)

    def load_model(self) -> Any:
        return copy.copy(self.adapter.built.model)  # an engine may change its copy's options (MJX's solver)

    def reset_qpos_qvel(self, key: Array, qpos0: Array, qvel0: Array) -> tuple[Array, Array]:
        k_pos, k_vel = jax.random.split(key)
        n = self.noise
        qpos = qpos0 + jax.random.uniform(k_pos, qpos0.shape, minval=-n, maxval=n)
        qvel = qvel0 + n * jax.random.normal(k_vel, qvel0.shape)
        if len(self._quats):  # the noise left the quaternions off unit length: mj_normalizeQuat
            q = qpos[self._quats]
            qpos = qpos.at[self._quats].set(q / jnp.linalg.norm(q, axis=-1, keepdims=True))
        return qpos, qvel

    def fields(self, r: R) -> dict[str, Array]:
        return self.adapter.values(r["sensordata"], jnp)

    def row(self, r: R) -> Array:
        """The state row (every field flat, in the spec's order), as the Gymnasium env's ``state_row``."""
        values = self.fields(r)
        return jnp.concatenate([jnp.reshape(values[f.name], (-1,)) for f in self.spec.fields])

    def obs(self, r: R) -> Array:
        return jnp.concatenate([r["qpos"][self._keep], r["qvel"], self.row(r)[self._rows]])

    def healthy(self, r: R) -> Array | None:
        if self.adapter.condition is None:
            return None
        return self.fields(r)["healthy"] > 0.5

    def reward(self, r: R, action: Array) -> Array:
        """0 here: the env's own reward is the reward file's, paid on the batch (:meth:`batch_reward`)."""
        return jnp.zeros((), jnp.float32)

    def batch_reward(self, fields: dict[str, Array], actions: Array, env_reward: Array) -> Array:
        """The env's own reward of a batch (leaves ``(*batch, ...)``): the reward file's module on every env at once."""
        if not self.pays_own_reward:
            return env_reward
        if self.own_reward is None:
            return jnp.full(env_reward.shape, jnp.nan, jnp.float32)
        return self.own_reward.batch(fields, actions, env_reward.shape)

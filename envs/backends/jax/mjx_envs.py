"""MuJoCo locomotion as MJX environments with the same state fields as :mod:`envs.adapters.mujoco`.

Built from Gymnasium's own XML files (``gymnasium/envs/mujoco/assets``) with Gymnasium v5's frame
skip, reset noise, observation, reward, health rule and time limit, so a policy trained here runs
in the Gymnasium env the evaluator uses, and a reward written against the SB3 backend's fields
reads the same numbers here (a slow contract test steps both from the same qpos/qvel).
MJX is built for accelerators: on a CPU it is 25–38× slower than C MuJoCo
(shared/notes/perf-baseline.md §5), so CPU use is for tests on a few steps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from rewardsmith.core.state import StateSpec
from rewardsmith.envs.backends.jax.envs import Fields, JaxEnv, Step

Array = jax.Array


class MjxState(NamedTuple):
    data: Any
    """mjx.Data after the step."""
    x_velocity: Array
    """() the step's x displacement of the root over dt (Gymnasium's ``info["x_velocity"]``)."""
    time: Array
    """() int32 steps since reset."""


def _assets() -> Path:
    import gymnasium

    return Path(gymnasium.__file__).parent / "envs" / "mujoco" / "assets"


class _PlanarWalkerMjx(JaxEnv):
    """qpos = [rootx, rootz, rooty, joints…]; the torso is body 1 (as ``envs.adapters.mujoco._PlanarWalker``)."""

    xml: str
    frame_skip: int
    reset_noise: float
    noise_qvel_normal: bool = False
    forward_weight: float = 1.0
    ctrl_cost: float
    healthy_reward: float | None = None
    clip_obs_qvel: bool = False
    max_steps = 1000
    discrete = False

    def __init__(self, spec: StateSpec) -> None:
        import mujoco
        from mujoco import mjx

        self._mjx = mjx
        self.mj_model = mujoco.MjModel.from_xml_path(str(_assets() / self.xml))
        self.model = mjx.put_model(self.mj_model)
        self.spec = spec
        self.dt = float(self.mj_model.opt.timestep) * self.frame_skip
        self.n_actions = int(self.mj_model.nu)
        self.obs_dim = int(self.mj_model.nq - 1 + self.mj_model.nv)
        self._qpos0 = jnp.asarray(self.mj_model.qpos0, jnp.float32)

    def state_from(self, qpos: Array, qvel: Array) -> MjxState:
        """A state at given ``qpos``/``qvel`` with its kinematics computed (as Gymnasium's ``set_state``)."""
        d = self._mjx.make_data(self.model).replace(qpos=jnp.asarray(qpos, jnp.float32),
                                                     qvel=jnp.asarray(qvel, jnp.float32))
        d = self._mjx.forward(self.model, d)
        return MjxState(d, jnp.asarray(d.qvel[0], jnp.float32), jnp.zeros((), jnp.int32))

    def obs(self, d: Any) -> Array:
        qvel = jnp.clip(d.qvel, -10.0, 10.0) if self.clip_obs_qvel else d.qvel
        return jnp.concatenate([d.qpos[1:], qvel]).astype(jnp.float32)

    def reset(self, key: Array) -> tuple[MjxState, Array]:
        k_pos, k_vel = jax.random.split(key)
        n = self.reset_noise
        qpos = self._qpos0 + jax.random.uniform(k_pos, self._qpos0.shape, minval=-n, maxval=n)
        nv = int(self.mj_model.nv)
        qvel = (n * jax.random.normal(k_vel, (nv,)) if self.noise_qvel_normal
                else jax.random.uniform(k_vel, (nv,), minval=-n, maxval=n))
        state = self.state_from(qpos, qvel)
        return state, self.obs(state.data)

    def step(self, key: Array, state: MjxState, action: Array) -> Step:
        x_before = state.data.qpos[0]
        d = state.data.replace(ctrl=jnp.asarray(action, jnp.float32))
        d = jax.lax.fori_loop(0, self.frame_skip, lambda _, d: self._mjx.step(self.model, d), d)
        x_velocity = (d.qpos[0] - x_before) / self.dt
        new = MjxState(d, x_velocity, state.time + 1)
        reward = self.forward_weight * x_velocity - self.ctrl_cost * jnp.sum(jnp.square(action))
        terminated = jnp.zeros((), bool)
        if self.healthy_reward is not None:
            healthy = self.is_healthy(d)
            reward = reward + self.healthy_reward * healthy
            terminated = jnp.logical_not(healthy)
        truncated = jnp.logical_and(new.time >= self.max_steps, jnp.logical_not(terminated))
        return Step(new, self.obs(d), jnp.asarray(reward, jnp.float32), terminated, truncated)

    def is_healthy(self, d: Any) -> Array:
        raise NotImplementedError

    def fields(self, state: MjxState) -> Fields:
        d = state.data
        out = {
            "x_position": d.qpos[0], "x_velocity": state.x_velocity, "torso_height": d.xpos[1, 2],
            "z_velocity": d.qvel[1], "torso_angle": d.qpos[2], "torso_angular_velocity": d.qvel[2],
            "joint_pos": d.qpos[3:], "joint_vel": d.qvel[3:],
        }
        if self.healthy_reward is not None:
            out["healthy"] = self.is_healthy(d).astype(jnp.float32)
        return {k: jnp.asarray(v, jnp.float32) for k, v in out.items()}


class HopperMjx(_PlanarWalkerMjx):
    """Hopper-v5: frame skip 4, reset noise ±5e-3, healthy rule of Gymnasium's defaults, ends when unhealthy."""

    env_id = "Hopper-v5"
    xml, frame_skip, reset_noise, ctrl_cost = "hopper.xml", 4, 5e-3, 1e-3
    healthy_reward = 1.0
    clip_obs_qvel = True

    def __init__(self) -> None:
        from rewardsmith.envs.adapters.mujoco import HopperAdapter

        super().__init__(HopperAdapter.spec)

    def is_healthy(self, d: Any) -> Array:
        z, angle = d.qpos[1], d.qpos[2]
        rest = jnp.concatenate([d.qpos[2:], d.qvel])  # Gymnasium's state_vector()[2:]
        return jnp.all(jnp.abs(rest) < 100.0) & (z > 0.7) & (angle > -0.2) & (angle < 0.2)


class HalfCheetahMjx(_PlanarWalkerMjx):
    """HalfCheetah-v5: frame skip 5, qpos noise ±0.1, qvel noise 0.1·N(0, 1), control cost 0.1, no termination."""

    env_id = "HalfCheetah-v5"
    xml, frame_skip, reset_noise, ctrl_cost = "half_cheetah.xml", 5, 0.1, 0.1
    noise_qvel_normal = True

    def __init__(self) -> None:
        from rewardsmith.envs.adapters.mujoco import HalfCheetahAdapter

        super().__init__(HalfCheetahAdapter.spec)


MJX_ENVS: dict[str, type[JaxEnv]] = {e.env_id: e for e in (HopperMjx, HalfCheetahMjx)}

"""Gymnasium v5's rules for the eight MuJoCo tasks, written once over arrays for both physics engines.

A task's rules say what it reads of MuJoCo's data after a step (:class:`Reads`: qpos and qvel always,
plus body positions, the torso's axes, contact forces …), and how Gymnasium v5 turns those reads
into the observation, the env's own reward, the health rule (termination) and the reset noise;
:meth:`MujocoRules.fields` maps them to the task's state fields under the Gymnasium adapter's very
:class:`~core.state.StateSpec` (:mod:`envs.adapters.mujoco`). Everything here is pure JAX on one env.

Two engines fill the reads: MuJoCo's C engine on the host (:mod:`envs.backends.jax.native_envs`, the
CPU physics) and MJX inside the program (:mod:`envs.backends.jax.mjx_envs`, the GPU physics); so a
rule cannot differ between them. Like Gymnasium, the reads are MjData as ``mj_step`` leaves it:
positions of bodies (``xpos``) and contact forces come from the last substep's forward pass, one
physics step behind ``qpos`` (the adapters read the same numbers). The velocities are the env's own:
the displacement of a tracked point (the root's x, the torso, the centre of mass) over the step
divided by ``dt``, computed in float64 by the engine.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np

from rewardsmith.core.state import StateSpec

Array = jax.Array
R = dict[str, Array]
"""One env's reads by name (see :meth:`Reads.layout`)."""
Track = Literal["qpos_x", "qpos_xy", "body_xy", "com_xy"]


@dataclass(frozen=True)
class Reads:
    """What a task reads of MuJoCo's data after a step, besides ``qpos`` and ``qvel``.

    Attributes:
        bodies: bodies whose position (``xpos``) is read: ``xpos`` ``(len(bodies), 3)``.
        axes_body: a body whose frame's x and z axes (world coordinates) are read: ``xaxis``, ``zaxis`` ``(3,)``.
        linvel_body: a body whose origin's linear velocity (world frame) is read: ``linvel`` ``(3,)``.
        track: the point whose displacement over a step is the env's velocity (``velocity`` ``(2,)``, x and y):
            the root's x slide (planar bodies), the first two slides (Swimmer), ``track_body``'s position, or
            the centre of mass of all bodies.
        track_body: the body of ``track="body_xy"``.
        cfrc_ext: the external contact wrench on every body after the world: ``cfrc_ext`` ``(nbody-1, 6)``
            (needs ``mj_rnePostConstraint`` after the step, as Gymnasium calls it).
        com_inertia: Humanoid's observation extras: ``cinert`` ``(nbody-1, 10)``, ``cvel`` ``(nbody-1, 6)``,
            ``qfrc_actuator`` ``(nv,)``.
        sensordata: the model's sensors: ``sensordata`` ``(nsensordata,)`` (a task on a model reads every state
            field from them, :mod:`envs.backends.jax.model_rules`).
    """

    bodies: tuple[str, ...] = ()
    axes_body: str | None = None
    linvel_body: str | None = None
    track: Track | None = None
    track_body: str | None = None
    cfrc_ext: bool = False
    com_inertia: bool = False
    sensordata: bool = False

    def layout(self, nq: int, nv: int, nbody: int, nsensordata: int = 0) -> tuple[tuple[str, tuple[int, ...]], ...]:
        """Every read's name and per-env shape, in the order an engine packs them into one float32 row."""
        out: list[tuple[str, tuple[int, ...]]] = [("qpos", (nq,)), ("qvel", (nv,)), ("velocity", (2,))]
        if self.bodies:
            out.append(("xpos", (len(self.bodies), 3)))
        if self.axes_body is not None:
            out += [("xaxis", (3,)), ("zaxis", (3,))]
        if self.linvel_body is not None:
            out.append(("linvel", (3,)))
        if self.cfrc_ext:
            out.append(("cfrc_ext", (nbody - 1, 6)))
        if self.com_inertia:
            out += [("cinert", (nbody - 1, 10)), ("cvel", (nbody - 1, 6)), ("qfrc_actuator", (nv,))]
        if self.sensordata:
            out.append(("sensordata", (nsensordata,)))
        return tuple(out)


def unpack(layout: tuple[tuple[str, tuple[int, ...]], ...], row: Array) -> R:
    """One env's packed reads ``(..., size)`` as named arrays (leading batch axes kept)."""
    out, start = {}, 0
    lead = row.shape[:-1]
    for name, shape in layout:
        size = math.prod(shape)
        out[name] = row[..., start:start + size].reshape(*lead, *shape)
        start += size
    return out


def pack(layout: tuple[tuple[str, tuple[int, ...]], ...], values: dict[str, Array]) -> Array:
    """One env's reads as the packed float32 row :func:`unpack` reads."""
    return jnp.concatenate([jnp.asarray(values[name], jnp.float32).reshape(-1) for name, _ in layout])


def body_linvel(xp: Any, cvel: Any, offset: Any) -> Any:
    """``mj_objectVelocity`` of a body in the world frame, linear part: its com-based spatial velocity ``cvel``
    ``(..., 6)`` (angular, linear) moved to the body's origin, ``offset`` = origin - its root's subtree COM."""
    return cvel[..., 3:] - xp.cross(offset, cvel[..., :3])


def layout_size(layout: tuple[tuple[str, tuple[int, ...]], ...]) -> int:
    return sum(math.prod(shape) for _, shape in layout)


def _ctrl_cost(weight: float, action: Array) -> Array:
    return weight * jnp.sum(jnp.square(action))


def _uniform(key: Array, shape: tuple[int, ...], scale: float) -> Array:
    return jax.random.uniform(key, shape, minval=-scale, maxval=scale)


class MujocoRules(ABC):
    """One Gymnasium v5 MuJoCo task's rules, per env (the trainer vmaps).

    Attributes:
        env_id: the Gymnasium id.
        xml: the model file in Gymnasium's ``envs/mujoco/assets``.
        frame_skip: physics steps per env step (``dt = timestep * frame_skip``).
        max_steps: the time limit (Gymnasium's ``max_episode_steps``).
        reads: what the rules read after a step.
        kinematic_reset: the reset observation needs MuJoCo's forward pass (body positions, inertias), so the
            engine computes it; else the reset state is built from qpos/qvel alone (see :meth:`reset_reads`).
    """

    env_id: str
    xml: str
    frame_skip: int
    max_steps: int = 1000
    reads: Reads = Reads()
    kinematic_reset: bool = False

    def __init__(self, spec: StateSpec) -> None:
        self.spec = spec

    def load_model(self) -> Any:
        """A fresh ``mujoco.MjModel`` of the task (an engine may change its copy's options): Gymnasium's own file."""
        import mujoco

        return mujoco.MjModel.from_xml_path(str(Path(assets_dir()) / self.xml))

    def action_box(self) -> tuple[float | np.ndarray, float | np.ndarray]:
        """The policy's action bounds: the spec's (one range for every actuator), or -1 and 1 when it has none."""
        action = self.spec.action
        return (float(action.low if action.low is not None else -1.0),
                float(action.high if action.high is not None else 1.0))

    def layout(self, m: Any) -> tuple[tuple[str, tuple[int, ...]], ...]:
        """The packed reads of this task on its model ``m`` (:meth:`Reads.layout`)."""
        return self.reads.layout(int(m.nq), int(m.nv), int(m.nbody), int(m.nsensordata))

    @abstractmethod
    def reset_qpos_qvel(self, key: Array, qpos0: Array, qvel0: Array) -> tuple[Array, Array]:
        """Gymnasium's ``reset_model`` noise around the model's initial ``qpos0``/``qvel0`` (float32)."""

    @abstractmethod
    def obs(self, r: R) -> Array:
        """The Gymnasium observation, float32."""

    @abstractmethod
    def reward(self, r: R, action: Array) -> Array:
        """The env's own reward ``()`` after the step (Gymnasium v5 scores the post-step state)."""

    def healthy(self, r: R) -> Array | None:
        """The health rule (the episode ends when it is False); None: the task never ends early."""
        return None

    @abstractmethod
    def fields(self, r: R) -> dict[str, Array]:
        """Every field of :attr:`spec` by name (before the float32 cast)."""

    def reset_reads(self, qpos: Array, qvel: Array, nbody: int) -> R:
        """A reset state's reads from qpos/qvel alone (``kinematic_reset`` False).

        Exact for everything the reset observation and the next step read: qpos, qvel and the track's start
        (the root slides, or Ant's torso, whose free joint puts it at ``qpos[0:3]``); contact forces are zero
        after a reset (``mj_forward`` does not compute them). Body positions that need kinematics are NaN: the
        trainer reads the fields of post-step states only.
        """
        nan = jnp.full((), jnp.nan, jnp.float32)
        r: R = {"qpos": qpos, "qvel": qvel, "velocity": jnp.zeros(2, jnp.float32)}
        if self.reads.bodies:
            r["xpos"] = jnp.full((len(self.reads.bodies), 3), nan)
        if self.reads.axes_body is not None:
            r["xaxis"], r["zaxis"] = jnp.full(3, nan), jnp.full(3, nan)
        if self.reads.cfrc_ext:
            r["cfrc_ext"] = jnp.zeros((nbody - 1, 6), jnp.float32)
        return r

    def track_point(self, qpos: Array) -> Array:
        """The tracked point's x, y for a state built from qpos alone (``kinematic_reset`` False)."""
        if self.reads.track == "qpos_x":
            return jnp.stack([qpos[0], jnp.zeros((), qpos.dtype)])
        return qpos[0:2]  # qpos_xy, and body_xy of a free root body (Ant's torso)

    def terminated(self, r: R) -> Array:
        healthy = self.healthy(r)
        return jnp.zeros((), bool) if healthy is None else jnp.logical_not(healthy)

    def batch_reward(self, fields: dict[str, Array], actions: Array, env_reward: Array) -> Array:
        """The env's own reward of a whole batch (leaves ``(*batch, ...)``), after :meth:`reward` per env: that one
        here; a rule that needs the whole batch at once (an exported module, which cannot be vmapped) overrides it."""
        return env_reward


# -- planar walkers: qpos = [rootx, rootz, rooty, joints…] ----------------------------------------
class _PlanarRules(MujocoRules):
    reset_noise: float
    noise_qvel_normal: bool = False
    ctrl_cost: float
    healthy_reward: float | None = None
    clip_obs_qvel: bool = False
    reads = Reads(bodies=("torso",), track="qpos_x")

    def reset_qpos_qvel(self, key: Array, qpos0: Array, qvel0: Array) -> tuple[Array, Array]:
        k_pos, k_vel = jax.random.split(key)
        n = self.reset_noise
        qpos = qpos0 + _uniform(k_pos, qpos0.shape, n)
        qvel = qvel0 + (n * jax.random.normal(k_vel, qvel0.shape) if self.noise_qvel_normal
                        else _uniform(k_vel, qvel0.shape, n))
        return qpos, qvel

    def obs(self, r: R) -> Array:
        qvel = jnp.clip(r["qvel"], -10.0, 10.0) if self.clip_obs_qvel else r["qvel"]
        return jnp.concatenate([r["qpos"][1:], qvel])

    def reward(self, r: R, action: Array) -> Array:
        reward = r["velocity"][0] - _ctrl_cost(self.ctrl_cost, action)
        healthy = self.healthy(r)
        if self.healthy_reward is not None and healthy is not None:
            reward = reward + self.healthy_reward * healthy
        return reward

    def fields(self, r: R) -> dict[str, Array]:
        qpos, qvel = r["qpos"], r["qvel"]
        out = {
            "x_position": qpos[0], "x_velocity": r["velocity"][0], "torso_height": r["xpos"][0, 2],
            "z_velocity": qvel[1], "torso_angle": qpos[2], "torso_angular_velocity": qvel[2],
            "joint_pos": qpos[3:], "joint_vel": qvel[3:],
        }
        healthy = self.healthy(r)
        if healthy is not None:
            out["healthy"] = healthy.astype(jnp.float32)
        return out


class HopperRules(_PlanarRules):
    """Hopper-v5: frame skip 4, noise ±5e-3, ends when unhealthy (|state[2:]| < 100, z > 0.7, |angle| < 0.2)."""

    env_id, xml, frame_skip = "Hopper-v5", "hopper.xml", 4
    reset_noise, ctrl_cost, healthy_reward, clip_obs_qvel = 5e-3, 1e-3, 1.0, True

    def healthy(self, r: R) -> Array:
        qpos, qvel = r["qpos"], r["qvel"]
        rest = jnp.concatenate([qpos[2:], qvel])  # Gymnasium's state_vector()[2:]
        z, angle = qpos[1], qpos[2]
        return jnp.all(jnp.abs(rest) < 100.0) & (z > 0.7) & (angle > -0.2) & (angle < 0.2)


class HalfCheetahRules(_PlanarRules):
    """HalfCheetah-v5: frame skip 5, qpos noise ±0.1, qvel 0.1·N(0, 1), control cost 0.1, no termination."""

    env_id, xml, frame_skip = "HalfCheetah-v5", "half_cheetah.xml", 5
    reset_noise, ctrl_cost, noise_qvel_normal = 0.1, 0.1, True


class Walker2dRules(_PlanarRules):
    """Walker2d-v5: frame skip 4, noise ±5e-3, ends when unhealthy (0.8 < z < 2, |angle| < 1)."""

    env_id, xml, frame_skip = "Walker2d-v5", "walker2d_v5.xml", 4
    reset_noise, ctrl_cost, healthy_reward, clip_obs_qvel = 5e-3, 1e-3, 1.0, True

    def healthy(self, r: R) -> Array:
        z, angle = r["qpos"][1], r["qpos"][2]
        return (z > 0.8) & (z < 2.0) & (angle > -1.0) & (angle < 1.0)


# -- Swimmer: qpos = [slider x, slider y, rotation, 2 joints] -------------------------------------
class SwimmerRules(MujocoRules):
    """Swimmer-v5: frame skip 4, noise ±0.1, control cost 1e-4, no termination."""

    env_id, xml, frame_skip = "Swimmer-v5", "swimmer.xml", 4
    reads = Reads(track="qpos_xy")

    def reset_qpos_qvel(self, key: Array, qpos0: Array, qvel0: Array) -> tuple[Array, Array]:
        k_pos, k_vel = jax.random.split(key)
        return qpos0 + _uniform(k_pos, qpos0.shape, 0.1), qvel0 + _uniform(k_vel, qvel0.shape, 0.1)

    def obs(self, r: R) -> Array:
        return jnp.concatenate([r["qpos"][2:], r["qvel"]])

    def reward(self, r: R, action: Array) -> Array:
        return r["velocity"][0] - _ctrl_cost(1e-4, action)

    def fields(self, r: R) -> dict[str, Array]:
        qpos, qvel = r["qpos"], r["qvel"]
        heading = jnp.remainder(qpos[2] + math.pi, 2 * math.pi) - math.pi  # math.remainder(x, tau) up to ±pi
        return {"x_position": qpos[0], "y_position": qpos[1], "x_velocity": r["velocity"][0],
                "y_velocity": r["velocity"][1], "heading": heading, "angular_velocity": qvel[2],
                "joint_pos": qpos[3:5], "joint_vel": qvel[3:5]}


# -- 3-D bodies with a free root: qpos = [x, y, z, quaternion, joints…] ---------------------------
class _FreeBodyRules(MujocoRules):
    noise: float
    noise_qvel_normal: bool = False

    def reset_qpos_qvel(self, key: Array, qpos0: Array, qvel0: Array) -> tuple[Array, Array]:
        k_pos, k_vel = jax.random.split(key)
        n = self.noise
        qvel = qvel0 + (n * jax.random.normal(k_vel, qvel0.shape) if self.noise_qvel_normal
                        else _uniform(k_vel, qvel0.shape, n))
        return qpos0 + _uniform(k_pos, qpos0.shape, n), qvel

    def contact_forces(self, r: R) -> Array:
        return r["cfrc_ext"]

    def fields(self, r: R) -> dict[str, Array]:
        qpos, qvel, xaxis = r["qpos"], r["qvel"], r["xaxis"]
        healthy = self.healthy(r)
        assert healthy is not None
        return {
            "x_position": qpos[0], "y_position": qpos[1], "torso_height": qpos[2],
            "x_velocity": r["velocity"][0], "y_velocity": r["velocity"][1], "z_velocity": qvel[2],
            "up_vector": r["zaxis"], "heading": jnp.arctan2(xaxis[1], xaxis[0]),
            "angular_velocity": qvel[3:6], "joint_pos": qpos[7:], "joint_vel": qvel[6:],
            "contact_forces": self.contact_forces(r), "healthy": healthy.astype(jnp.float32),
        }


class AntRules(_FreeBodyRules):
    """Ant-v5: frame skip 5, qpos noise ±0.1, qvel 0.1·N(0, 1); contact forces clipped to ±1 in the observation
    and the contact cost; ends when unhealthy (finite state, 0.2 <= z <= 1)."""

    env_id, xml, frame_skip = "Ant-v5", "ant.xml", 5
    noise, noise_qvel_normal = 0.1, True
    reads = Reads(axes_body="torso", track="body_xy", track_body="torso", cfrc_ext=True)

    def contact_forces(self, r: R) -> Array:
        return jnp.clip(r["cfrc_ext"], -1.0, 1.0)

    def obs(self, r: R) -> Array:
        return jnp.concatenate([r["qpos"][2:], r["qvel"], self.contact_forces(r).ravel()])

    def healthy(self, r: R) -> Array:
        finite = jnp.all(jnp.isfinite(r["qpos"])) & jnp.all(jnp.isfinite(r["qvel"]))
        z = r["qpos"][2]
        return finite & (z >= 0.2) & (z <= 1.0)

    def reward(self, r: R, action: Array) -> Array:
        # Gymnasium's contact cost sums over every body, the world's row included (always zero there).
        contact = 5e-4 * jnp.sum(jnp.square(self.contact_forces(r)))
        return r["velocity"][0] + 1.0 * self.healthy(r) - _ctrl_cost(0.5, action) - contact


class HumanoidRules(_FreeBodyRules):
    """Humanoid-v5: frame skip 5, noise ±1e-2; forward weight 1.25 on the centre of mass's velocity, healthy
    reward 5, contact cost 5e-7·Σcfrc_ext² capped at 10; ends when unhealthy (1 < z < 2)."""

    env_id, xml, frame_skip = "Humanoid-v5", "humanoid.xml", 5
    noise = 1e-2
    reads = Reads(axes_body="torso", track="com_xy", track_body="torso", cfrc_ext=True, com_inertia=True)
    kinematic_reset = True

    def obs(self, r: R) -> Array:
        return jnp.concatenate([r["qpos"][2:], r["qvel"], r["cinert"].ravel(), r["cvel"].ravel(),
                                r["qfrc_actuator"][6:], r["cfrc_ext"].ravel()])

    def healthy(self, r: R) -> Array:
        z = r["qpos"][2]
        return (z > 1.0) & (z < 2.0)

    def reward(self, r: R, action: Array) -> Array:
        contact = jnp.minimum(5e-7 * jnp.sum(jnp.square(r["cfrc_ext"])), 10.0)
        # Gymnasium charges data.ctrl, which is the action (inside the ±0.4 control range the trainer clips to).
        return 1.25 * r["velocity"][0] + 5.0 * self.healthy(r) - _ctrl_cost(0.1, action) - contact


# -- arms ----------------------------------------------------------------------------------------
class ReacherRules(MujocoRules):
    """Reacher-v5: frame skip 2, 50 steps; the target uniform in a 0.2 m disc; reward -distance - |action|²."""

    env_id, xml, frame_skip, max_steps = "Reacher-v5", "reacher.xml", 2, 50
    reads = Reads(bodies=("fingertip", "target"), linvel_body="fingertip")
    kinematic_reset = True

    def reset_qpos_qvel(self, key: Array, qpos0: Array, qvel0: Array) -> tuple[Array, Array]:
        k_pos, k_goal, k_vel = jax.random.split(key, 3)
        qpos = qpos0 + _uniform(k_pos, qpos0.shape, 0.1)

        # Gymnasium draws from the square until the point is inside the disc (the same distribution).
        def draw(c: tuple[Array, Array]) -> tuple[Array, Array]:
            k, _ = c
            k, k_try = jax.random.split(k)
            return k, _uniform(k_try, (2,), 0.2)

        _, goal = jax.lax.while_loop(lambda c: jnp.linalg.norm(c[1]) >= 0.2, draw, (k_goal, jnp.full(2, 1.0)))
        qvel = qvel0 + _uniform(k_vel, qvel0.shape, 0.005)
        return qpos.at[-2:].set(goal), qvel.at[-2:].set(0.0)

    def _tip_to_target(self, r: R) -> Array:
        return r["xpos"][0] - r["xpos"][1]

    def obs(self, r: R) -> Array:
        qpos = r["qpos"]
        return jnp.concatenate([jnp.cos(qpos[:2]), jnp.sin(qpos[:2]), qpos[2:], r["qvel"][:2],
                                self._tip_to_target(r)[:2]])

    def reward(self, r: R, action: Array) -> Array:
        return -jnp.linalg.norm(self._tip_to_target(r)) - jnp.sum(jnp.square(action))

    def fields(self, r: R) -> dict[str, Array]:
        return {"fingertip_position": r["xpos"][0, :2], "target_position": r["xpos"][1, :2],
                "distance_to_target": jnp.linalg.norm(self._tip_to_target(r)),
                "fingertip_velocity": r["linvel"][:2], "joint_pos": r["qpos"][:2], "joint_vel": r["qvel"][:2]}


class PusherRules(MujocoRules):
    """Pusher-v5: frame skip 5, 100 steps; the cylinder placed at random at least 0.17 m from the goal (0, 0);
    reward -|object-goal| - 0.5|tip-object| - 0.1|action|²."""

    env_id, xml, frame_skip, max_steps = "Pusher-v5", "pusher_v5.xml", 5, 100
    reads = Reads(bodies=("tips_arm", "object", "goal"))
    kinematic_reset = True

    def reset_qpos_qvel(self, key: Array, qpos0: Array, qvel0: Array) -> tuple[Array, Array]:
        k_cyl, k_vel = jax.random.split(key)

        def draw(c: tuple[Array, Array]) -> tuple[Array, Array]:
            k, _ = c
            k, kx, ky = jax.random.split(k, 3)
            return k, jnp.stack([jax.random.uniform(kx, (), minval=-0.3, maxval=0.0),
                                 jax.random.uniform(ky, (), minval=-0.2, maxval=0.2)])

        _, cylinder = jax.lax.while_loop(lambda c: jnp.linalg.norm(c[1]) <= 0.17, draw, (k_cyl, jnp.zeros(2)))
        qpos = qpos0.at[-4:-2].set(cylinder).at[-2:].set(0.0)
        qvel = (qvel0 + _uniform(k_vel, qvel0.shape, 0.005)).at[-4:].set(0.0)
        return qpos, qvel

    def obs(self, r: R) -> Array:
        return jnp.concatenate([r["qpos"][:7], r["qvel"][:7], r["xpos"].ravel()])

    def reward(self, r: R, action: Array) -> Array:
        tip, obj, goal = r["xpos"][0], r["xpos"][1], r["xpos"][2]
        return -jnp.linalg.norm(obj - goal) - 0.5 * jnp.linalg.norm(obj - tip) - 0.1 * jnp.sum(jnp.square(action))

    def fields(self, r: R) -> dict[str, Array]:
        tip, obj, goal = r["xpos"][0], r["xpos"][1], r["xpos"][2]
        return {"fingertip_position": tip, "object_position": obj, "goal_position": goal,
                "fingertip_to_object": jnp.linalg.norm(obj - tip), "object_to_goal": jnp.linalg.norm(obj - goal),
                "joint_pos": r["qpos"][:7], "joint_vel": r["qvel"][:7]}


RULES: dict[str, type[MujocoRules]] = {r.env_id: r for r in (
    HopperRules, HalfCheetahRules, Walker2dRules, SwimmerRules, AntRules, HumanoidRules, ReacherRules, PusherRules)}
"""The rules of every built-in MuJoCo task by Gymnasium id."""


def make_rules(env_id: str) -> MujocoRules:
    """The task's rules with its Gymnasium adapter's spec object."""
    from rewardsmith.envs.adapters.mujoco import MUJOCO_ADAPTERS

    adapter = next(a for a in MUJOCO_ADAPTERS if a.env_id == env_id)
    return RULES[env_id](adapter.spec)


def assets_dir() -> str:
    """Gymnasium's MuJoCo model files."""
    import gymnasium

    return str(Path(gymnasium.__file__).parent / "envs" / "mujoco" / "assets")

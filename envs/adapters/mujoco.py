"""Adapters for Gymnasium's MuJoCo v5 tasks: MjData read into named, batch-first state fields.

Each adapter reads the simulator state (``env.unwrapped.data``) right after ``env.step`` and before
any automatic reset, so the last row of an episode is the terminal state. Velocities of the body
as a whole (``x_velocity`` …) are the environment's own measurement from the step's ``info``
(root displacement over the step divided by ``dt``, or the centre of mass for Humanoid), so the
env's shipped reward can be written exactly over these fields (see :mod:`envs.adapters.env_rewards`).
Orientation is given as something a model can reason about: a pitch angle for the planar bodies,
an up-vector and a heading for the 3-D ones. Termination and reset stay the environment's own.
"""

from __future__ import annotations

import logging
import math
from abc import abstractmethod
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from numpy.typing import ArrayLike

from rewardsmith.core.state import ActionSpec, StateField, StateSpec
from rewardsmith.envs.adapters import StateAdapter

Values = Mapping[str, ArrayLike]
_log = logging.getLogger(__name__)
# mujoco 4.0 warns that Gymnasium's XML files use a deprecated attribute; harmless (perf-baseline.md §1).
_KNOWN_WARNINGS = ("compiler attribute 'settotalmass' is deprecated",)


def _mujoco_warning(message: str) -> None:
    if not message.startswith(_KNOWN_WARNINGS):
        _log.warning("MuJoCo: %s", message)


def route_mujoco_warnings() -> None:
    """Send MuJoCo's warnings to Python logging instead of its default, which appends to
    ``MUJOCO_LOG.TXT`` in the current directory (a run must not litter the user's working directory)."""
    import mujoco  # here, not at the top: a classic-control job never loads MuJoCo (0.1 s of every job's start)

    if mujoco.get_mju_user_warning() is None:
        mujoco.set_mju_user_warning(_mujoco_warning)


class StepInfo(gym.Wrapper):
    """Keeps the ``info`` of the last ``reset``/``step`` so an adapter can read the env's own measurements."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.last_info: dict[str, Any] = {}

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self.last_info = info
        return obs, info

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.last_info = info
        return obs, reward, terminated, truncated, info


class MujocoAdapter(StateAdapter):
    """Base of the MuJoCo adapters: builds the env with :class:`StepInfo` and packs :meth:`values`."""

    def make_env(self, render_mode: str | None = None, **kwargs: Any) -> gym.Env:
        route_mujoco_warnings()
        return StepInfo(super().make_env(render_mode=render_mode, **kwargs))

    def read(self, env: gym.Env, obs: np.ndarray) -> np.ndarray:
        info = env.get_wrapper_attr("last_info")
        values = self.values(env.unwrapped, info)
        return np.concatenate([np.ravel(np.asarray(values[f.name], dtype=np.float64)) for f in self.spec.fields])

    @abstractmethod
    def values(self, env: Any, info: Mapping[str, Any]) -> Values:
        """Every field of ``spec`` by name, read from ``env.data`` (an unwrapped MuJoCo env) and the step's info."""


def _speed(info: Mapping[str, Any], key: str, fallback: float) -> float:
    """The env's own velocity from the step's info; on a reset state (no step yet) the joint velocity."""
    value = info.get(key)
    return float(value) if value is not None else float(fallback)


def _heading(xmat: np.ndarray) -> float:
    """Yaw of a body: angle of its x-axis in the horizontal plane, counter-clockwise from +x."""
    return math.atan2(float(xmat[3]), float(xmat[0]))


def _up_vector(xmat: np.ndarray) -> np.ndarray:
    """The body's z-axis in world coordinates (third column of the rotation matrix)."""
    return np.asarray(xmat, dtype=np.float64).reshape(3, 3)[:, 2]


# -- planar walkers: HalfCheetah, Hopper, Walker2d -----------------------------------------------
def _planar_fields(body: str, joints: str, n_joints: int, height: tuple[float, float],
                   angle: tuple[float, float], healthy: str | None) -> tuple[StateField, ...]:
    """Fields of a body moving in the x-z plane; with a health rule, the pitch it must stay near is a target."""
    target = 0.0 if healthy is not None else None
    fields = [
        StateField(name="x_position", shape=(), unit="m", doc=f"x position of the {body}'s torso; +x is forward", kind="position"),
        StateField(name="x_velocity", shape=(), unit="m/s", doc="velocity of the torso along x (its x displacement over the step / dt), positive = forward",
                   kind="velocity", forward_sign=1),
        StateField(name="torso_height", shape=(), unit="m", doc="height of the torso above the ground", kind="height",
                   low=height[0], high=height[1]),
        StateField(name="z_velocity", shape=(), unit="m/s", doc="vertical velocity of the torso, positive = moving up", kind="velocity",
                   low=-5.0, high=5.0),
        StateField(name="torso_angle", shape=(), unit="rad", doc="pitch of the torso, 0 = level as at the start, positive = nose down",
                   kind="angle", low=angle[0], high=angle[1], target=target, target_kind="hold" if healthy else None),
        StateField(name="torso_angular_velocity", shape=(), unit="rad/s", doc="pitch rate of the torso, positive = pitching nose down", kind="angular_velocity",
                   low=-10.0, high=10.0),
        StateField(name="joint_pos", shape=(n_joints,), unit="rad", doc=f"joint angles: {joints}", kind="angle"),
        StateField(name="joint_vel", shape=(n_joints,), unit="rad/s", doc="joint angular velocities, same order as joint_pos",
                   kind="angular_velocity", low=-10.0, high=10.0),
    ]
    if healthy is not None:
        fields.append(StateField(name="healthy", shape=(), unit="1", doc=healthy, kind="indicator", low=0.0, high=1.0))
    return tuple(fields)


class _PlanarWalker(MujocoAdapter):
    """qpos = [rootx, rootz, rooty, joints…]; the torso is body 1."""

    has_healthy = False

    def values(self, env: Any, info: Mapping[str, Any]) -> Values:
        d = env.data
        out: dict[str, ArrayLike] = {
            "x_position": d.qpos[0],
            "x_velocity": _speed(info, "x_velocity", d.qvel[0]),
            "torso_height": d.xpos[1, 2],
            "z_velocity": d.qvel[1],
            "torso_angle": d.qpos[2],
            "torso_angular_velocity": d.qvel[2],
            "joint_pos": d.qpos[3:],
            "joint_vel": d.qvel[3:],
        }
        if self.has_healthy:
            out["healthy"] = float(env.is_healthy)
        return out


class HalfCheetahAdapter(_PlanarWalker):
    env_id = "HalfCheetah-v5"
    spec = StateSpec(
        fields=_planar_fields(
            "cheetah", "back thigh, back shin, back foot, front thigh, front shin, front foot", 6,
            height=(0.3, 1.0), angle=(-1.0, 1.0), healthy=None),
        action=ActionSpec(6, "torques of the 6 joint motors, same order as joint_pos", -1.0, 1.0),
        notes=("The cheetah moves in the x-z plane. Episodes last 1000 steps (dt = 0.05 s); there is no early "
               "termination, so a cheetah that flips over stays flipped.",),
    )


class HopperAdapter(_PlanarWalker):
    env_id = "Hopper-v5"
    has_healthy = True
    spec = StateSpec(
        fields=_planar_fields(
            "hopper", "thigh, leg, foot", 3, height=(0.7, 1.5), angle=(-0.2, 0.2),
            healthy="1 while the hopper is upright enough to go on (torso_height > 0.7, |torso_angle| < 0.2, "
                    "all velocities within ±100), else 0 — the episode ends on the step it becomes 0"),
        action=ActionSpec(3, "torques of the thigh, leg and foot motors", -1.0, 1.0),
        notes=("A one-legged robot moving in the x-z plane; it starts standing still. The episode ends when "
               "healthy becomes 0 (the hopper fell) and is cut at 1000 steps (dt = 0.008 s).",),
    )


class Walker2dAdapter(_PlanarWalker):
    env_id = "Walker2d-v5"
    has_healthy = True
    spec = StateSpec(
        fields=_planar_fields(
            "walker", "right thigh, right leg, right foot, left thigh, left leg, left foot", 6,
            height=(0.8, 2.0), angle=(-1.0, 1.0),
            healthy="1 while the walker is upright enough to go on (0.8 < torso_height < 2, |torso_angle| < 1), "
                    "else 0 — the episode ends on the step it becomes 0"),
        action=ActionSpec(6, "torques of the 6 joint motors, same order as joint_pos", -1.0, 1.0),
        notes=("A two-legged robot moving in the x-z plane; it starts standing still. The episode ends when "
               "healthy becomes 0 (the walker fell) and is cut at 1000 steps (dt = 0.008 s).",),
    )


# -- Swimmer -------------------------------------------------------------------------------------
class SwimmerAdapter(MujocoAdapter):
    """qpos = [slider x, slider y, rotation of the front segment, 2 joints]."""

    env_id = "Swimmer-v5"
    spec = StateSpec(
        fields=(
            StateField(name="x_position", shape=(), unit="m", doc="x position of the front segment; +x is forward", kind="position"),
            StateField(name="y_position", shape=(), unit="m", doc="sideways (y) position of the front segment, positive = to the left of +x", kind="position"),
            StateField(name="x_velocity", shape=(), unit="m/s", doc="velocity along x (x displacement over the step / dt), positive = forward",
                       kind="velocity", forward_sign=1),
            StateField(name="y_velocity", shape=(), unit="m/s", doc="sideways velocity", kind="velocity"),
            StateField(name="heading", shape=(), unit="rad", doc="direction the front segment points in, 0 = +x, counter-clockwise",
                       kind="angle", low=-math.pi, high=math.pi),
            StateField(name="angular_velocity", shape=(), unit="rad/s", doc="turn rate of the front segment seen from above, positive = turning counter-clockwise", kind="angular_velocity",
                       low=-5.0, high=5.0),
            StateField(name="joint_pos", shape=(2,), unit="rad", doc="angles of the 2 joints between the 3 segments", kind="angle",
                       low=-1.75, high=1.75),
            StateField(name="joint_vel", shape=(2,), unit="rad/s", doc="joint angular velocities", kind="angular_velocity",
                       low=-10.0, high=10.0),
        ),
        action=ActionSpec(2, "torques of the 2 joint motors", -1.0, 1.0),
        notes=("A three-segment swimmer in a viscous fluid, moving in the horizontal plane. Episodes last "
               "1000 steps (dt = 0.04 s); there is no early termination.",),
    )

    def values(self, env: Any, info: Mapping[str, Any]) -> Values:
        d = env.data
        return {
            "x_position": d.qpos[0], "y_position": d.qpos[1],
            "x_velocity": _speed(info, "x_velocity", d.qvel[0]),
            "y_velocity": _speed(info, "y_velocity", d.qvel[1]),
            "heading": math.remainder(float(d.qpos[2]), math.tau), "angular_velocity": d.qvel[2],
            "joint_pos": d.qpos[3:5], "joint_vel": d.qvel[3:5],
        }


# -- 3-D bodies with a free root joint: Ant, Humanoid --------------------------------------------
def _free_body_fields(body: str, height: tuple[float, float], n_joints: int, joints: str,
                      healthy: str, contact: tuple[str, str]) -> tuple[StateField, ...]:
    return (
        StateField(name="x_position", shape=(), unit="m", doc=f"x position of the {body}'s torso; +x is forward", kind="position"),
        StateField(name="y_position", shape=(), unit="m", doc="sideways (y) position of the torso", kind="position"),
        StateField(name="torso_height", shape=(), unit="m", doc="height of the torso above the ground", kind="height",
                   low=height[0], high=height[1]),
        StateField(name="x_velocity", shape=(), unit="m/s", doc=f"velocity of the {body} along x (x displacement over the step / dt), positive = forward",
                   kind="velocity", forward_sign=1),
        StateField(name="y_velocity", shape=(), unit="m/s", doc="sideways velocity", kind="velocity"),
        StateField(name="z_velocity", shape=(), unit="m/s", doc="vertical velocity of the torso, positive = moving up", kind="velocity", low=-5.0, high=5.0),
        StateField(name="up_vector", shape=(3,), unit="1", doc="the torso's up axis in world coordinates; (0, 0, 1) = upright, "
                   "up_vector[:, 2] = cosine of the tilt", kind="other", low=-1.0, high=1.0),
        StateField(name="heading", shape=(), unit="rad", doc="direction the torso faces in the horizontal plane, 0 = +x, "
                   "counter-clockwise", kind="angle", low=-math.pi, high=math.pi),
        StateField(name="angular_velocity", shape=(3,), unit="rad/s", doc="torso angular velocity in the torso's own frame",
                   kind="angular_velocity", low=-10.0, high=10.0),
        StateField(name="joint_pos", shape=(n_joints,), unit="rad", doc=f"joint angles: {joints}", kind="angle"),
        StateField(name="joint_vel", shape=(n_joints,), unit="rad/s", doc="joint angular velocities, same order as joint_pos",
                   kind="angular_velocity", low=-10.0, high=10.0),
        StateField(name="contact_forces", shape=(13, 6), unit=contact[0], doc=contact[1], kind="other"),
        StateField(name="healthy", shape=(), unit="1", doc=healthy, kind="indicator", low=0.0, high=1.0),
    )


class _FreeBody(MujocoAdapter):
    """qpos = [x, y, z, quaternion(4), joints…]; qvel = [linear(3), angular(3, local frame), joints…]."""

    clip_contacts: tuple[float, float] | None = None

    def values(self, env: Any, info: Mapping[str, Any]) -> Values:
        d = env.data
        contacts = d.cfrc_ext[1:]
        if self.clip_contacts is not None:
            contacts = np.clip(contacts, *self.clip_contacts)
        return {
            "x_position": d.qpos[0], "y_position": d.qpos[1], "torso_height": d.qpos[2],
            "x_velocity": _speed(info, "x_velocity", d.qvel[0]),
            "y_velocity": _speed(info, "y_velocity", d.qvel[1]),
            "z_velocity": d.qvel[2],
            "up_vector": _up_vector(d.xmat[1]), "heading": _heading(d.xmat[1]),
            "angular_velocity": d.qvel[3:6],
            "joint_pos": d.qpos[7:], "joint_vel": d.qvel[6:],
            "contact_forces": contacts,
            "healthy": float(env.is_healthy),
        }


class AntAdapter(_FreeBody):
    env_id = "Ant-v5"
    clip_contacts = (-1.0, 1.0)
    spec = StateSpec(
        fields=_free_body_fields(
            "ant", (0.2, 1.0), 8, "hip and ankle of the front-left, front-right, back-left and back-right legs "
            "(hip_1, ankle_1, …, hip_4, ankle_4)",
            healthy="1 while the torso height is within [0.2, 1.0] m and the state is finite, else 0 — the "
                    "episode ends on the step it becomes 0",
            contact=("N·m, N", "external contact wrench on each of the 13 bodies after the world (torso, then per leg: "
                          "hip, thigh, shin), [torque xyz, force xyz], clipped to [-1, 1]")),
        action=ActionSpec(8, "torques of the 8 motors, same order as joint_pos", -1.0, 1.0),
        notes=("A four-legged robot that moves freely in 3-D; it starts standing. The episode ends when healthy "
               "becomes 0 (torso too low, or it jumped too high) and is cut at 1000 steps (dt = 0.05 s).",),
    )


class HumanoidAdapter(_FreeBody):
    env_id = "Humanoid-v5"
    spec = StateSpec(
        fields=_free_body_fields(
            "humanoid", (1.0, 2.0), 17, "abdomen z/y/x, right hip x/z/y, right knee, left hip x/z/y, left knee, "
            "right shoulder 1/2, right elbow, left shoulder 1/2, left elbow",
            healthy="1 while the torso height is within (1.0, 2.0) m, else 0 — the episode ends on the step it "
                    "becomes 0",
            contact=("N·m, N", "external contact wrench on each of the 13 bodies after the world (torso, waist, "
                                "pelvis, thighs, shins, feet, arms), [torque xyz, force xyz]")),
        action=ActionSpec(17, "torques of the 17 motors (abdomen y, z, x, then the joints in joint_pos order "
                              "from the right hip)", -0.4, 0.4),
        notes=("A humanoid that starts standing; x_velocity is the velocity of its centre of mass. The episode "
               "ends when healthy becomes 0 (it fell) and is cut at 1000 steps (dt = 0.015 s).",),
    )


# -- arms: Reacher, Pusher -----------------------------------------------------------------------
def _body_velocity(env: Any, body: str) -> np.ndarray:
    """Linear velocity (world frame) of a body's origin."""
    import mujoco

    res = np.zeros(6)
    mujoco.mj_objectVelocity(env.model, env.data, mujoco.mjtObj.mjOBJ_BODY, env.model.body(body).id, res, 0)
    return res[3:]


class ReacherAdapter(MujocoAdapter):
    """qpos = [shoulder, elbow, target x, target y]; the target is placed at random on reset."""

    env_id = "Reacher-v5"
    spec = StateSpec(
        fields=(
            StateField(name="fingertip_position", shape=(2,), unit="m", doc="x, y of the fingertip on the table; the shoulder is at (0, 0)",
                       kind="position", low=-0.21, high=0.21),
            StateField(name="target_position", shape=(2,), unit="m", doc="x, y of the target dot (fixed during an episode)",
                       kind="position", low=-0.2, high=0.2),
            StateField(name="distance_to_target", shape=(), unit="m", doc="distance from the fingertip to the target", kind="distance",
                       low=0.0, high=0.4, target=0.0, target_kind="hold"),
            StateField(name="fingertip_velocity", shape=(2,), unit="m/s", doc="velocity of the fingertip on the table", kind="velocity",
                       low=-2.0, high=2.0),
            StateField(name="joint_pos", shape=(2,), unit="rad", doc="angles of the shoulder (unbounded) and the elbow (±3)",
                       kind="angle"),
            StateField(name="joint_vel", shape=(2,), unit="rad/s", doc="angular velocities of the shoulder and the elbow",
                       kind="angular_velocity", low=-20.0, high=20.0),
        ),
        action=ActionSpec(2, "torques of the shoulder and elbow motors", -1.0, 1.0),
        notes=("A two-link arm (links 0.1 m and 0.11 m) in the horizontal plane; the target is placed at "
               "random within 0.2 m of the shoulder. Episodes last 50 steps (dt = 0.02 s); there is no early "
               "termination.",),
    )

    def values(self, env: Any, info: Mapping[str, Any]) -> Values:
        d = env.data
        tip, target = d.body("fingertip").xpos, d.body("target").xpos
        return {
            "fingertip_position": tip[:2], "target_position": target[:2],
            "distance_to_target": np.linalg.norm(tip - target),
            "fingertip_velocity": _body_velocity(env, "fingertip")[:2],
            "joint_pos": d.qpos[:2], "joint_vel": d.qvel[:2],
        }


class PusherAdapter(MujocoAdapter):
    """qpos = [7 arm joints, object y/x slides, goal y/x slides]."""

    env_id = "Pusher-v5"
    spec = StateSpec(
        fields=(
            StateField(name="fingertip_position", shape=(3,), unit="m", doc="x, y, z of the arm's fingertip", kind="position"),
            StateField(name="object_position", shape=(3,), unit="m", doc="x, y, z of the cylinder to push (it slides on the table)",
                       kind="position"),
            StateField(name="goal_position", shape=(3,), unit="m", doc="x, y, z of the goal spot on the table (fixed)", kind="position"),
            StateField(name="fingertip_to_object", shape=(), unit="m", doc="distance from the fingertip to the cylinder", kind="distance",
                       low=0.0, high=1.0, target=0.0, target_kind="hold"),
            StateField(name="object_to_goal", shape=(), unit="m", doc="distance from the cylinder to the goal spot", kind="distance",
                       low=0.0, high=0.6, target=0.0, target_kind="hold"),
            StateField(name="joint_pos", shape=(7,), unit="rad", doc="arm joint angles: shoulder pan, shoulder lift, upper-arm roll, "
                       "elbow flex, forearm roll, wrist flex, wrist roll", kind="angle"),
            StateField(name="joint_vel", shape=(7,), unit="rad/s", doc="arm joint angular velocities, same order as joint_pos",
                       kind="angular_velocity", low=-10.0, high=10.0),
        ),
        action=ActionSpec(7, "torques of the 7 arm motors, same order as joint_pos", -2.0, 2.0),
        notes=("A 7-joint arm over a table; the cylinder starts at a random place, the goal is always at the same "
               "spot. Episodes last 100 steps (dt = 0.05 s); there is no early termination.",),
    )

    def values(self, env: Any, info: Mapping[str, Any]) -> Values:
        d = env.data
        tip, obj, goal = d.body("tips_arm").xpos, d.body("object").xpos, d.body("goal").xpos
        return {
            "fingertip_position": tip, "object_position": obj, "goal_position": goal,
            "fingertip_to_object": np.linalg.norm(obj - tip), "object_to_goal": np.linalg.norm(obj - goal),
            "joint_pos": d.qpos[:7], "joint_vel": d.qvel[:7],
        }


MUJOCO_ADAPTERS: tuple[type[StateAdapter], ...] = (
    HalfCheetahAdapter, HopperAdapter, Walker2dAdapter, AntAdapter, HumanoidAdapter, SwimmerAdapter,
    ReacherAdapter, PusherAdapter,
)

"""The SB3 backend's environment for a task on a MuJoCo model: a Gymnasium ``MujocoEnv`` built from the XML.

It steps the model :class:`~envs.adapters.model.ModelAdapter` compiled (with a sensor per state field) the way
Gymnasium's v5 envs do — ``mj_step`` × frame skip per action, a reset at the model's initial pose plus
noise — and reads the state row once per step from ``sensordata``. The observation is what Gymnasium's
locomotion envs give (qpos without the root's horizontal position, qvel) plus the other state fields; the
reward is the task's own reward file over the state fields (0 without one); the episode ends when the
task's termination rule holds, and a ``TimeLimit`` (added by the adapter) cuts it at ``max_steps``.
"""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path
from typing import Any, Protocol

import mujoco
import numpy as np
from gymnasium import spaces
from gymnasium.envs.mujoco.mujoco_env import MujocoEnv

from rewardsmith.core.errors import TaskError
from rewardsmith.core.state import StateSpec
from rewardsmith.envs.adapters.expression import Condition
from rewardsmith.envs.adapters.model_fields import BuiltModel

_IN_QPOS = ("x_position", "y_position", "joint_pos", "joint_vel", "slide_pos", "slide_vel")
"""Fields the observation already has as qpos/qvel (or leaves out: the root's horizontal position)."""


class _Adapter(Protocol):
    """What the env needs of :class:`~envs.adapters.model.ModelAdapter` (which imports this module lazily)."""

    spec: StateSpec
    built: BuiltModel
    condition: Condition | None
    reward_file: Path | None
    model_file: Path
    frame_skip: int
    reset_noise: float

    @property
    def dt(self) -> float: ...

    def row(self, sensordata: np.ndarray) -> np.ndarray: ...


def load_reward_fn(path: Path) -> Any:
    """``compute_reward`` of a statically checked reward file (the env's own reward: trusted like the fitness)."""
    spec = importlib.util.spec_from_file_location(f"rewardsmith_env_reward_{abs(hash(str(path)))}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the task's own file: its error is the task file's problem, in one line
        raise TaskError(f"field 'physics.reward': importing {path.name} raised {type(exc).__name__}: {exc}") from None
    return module.compute_reward


def observation_layout(spec: StateSpec, built: BuiltModel) -> tuple[np.ndarray, np.ndarray]:
    """What the observation is made of: the qpos addresses it keeps (all but the root's horizontal position), and the
    state row's elements it adds after qpos and qvel (every field that is not already qpos/qvel). Every physics
    engine builds its observation from these, so a policy trained on one runs on the others."""
    keep = np.array([i for i in range(built.model.nq) if i not in built.root_qpos_xy], dtype=np.intp)
    rows = np.concatenate([np.arange(s.start, s.stop) for f, s in spec.slices() if f.name not in _IN_QPOS]
                          or [np.zeros(0, dtype=np.intp)]).astype(np.intp)
    return keep, rows


def _camera(model: Any, root: int | None) -> dict[str, Any]:
    """A free camera that frames the robot in a video: following the root at a distance from the size of its
    subtree, or looking at a fixed-base model's middle (Gymnasium's default frames the whole floor)."""
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    solid = model.geom_type != mujoco.mjtGeom.mjGEOM_PLANE
    if root is not None:
        mine = solid & np.isin(model.geom_bodyid, [b for b in range(model.nbody) if model.body_rootid[b] == root])
        centre = data.xpos[root]
    else:
        mine = solid & (model.geom_bodyid > 0)
        centre = data.geom_xpos[mine].mean(axis=0) if mine.any() else np.zeros(3)
    reach = np.linalg.norm(data.geom_xpos[mine] - centre, axis=1) + model.geom_rbound[mine] if mine.any() else [0.5]
    config: dict[str, Any] = {"distance": max(0.5, 4.0 * float(np.max(reach))), "elevation": -20.0}
    if root is not None:
        config["trackbodyid"] = int(root)
    else:
        config["lookat"] = np.asarray(centre, dtype=np.float64)
    return config


class ModelEnv(MujocoEnv):
    """A Gymnasium env over a model compiled by a :class:`ModelAdapter` (see the module docstring)."""

    def __init__(self, adapter: _Adapter, render_mode: str | None = None, width: int = 480,
                 height: int = 480) -> None:
        from rewardsmith.envs.adapters.mujoco import route_mujoco_warnings

        route_mujoco_warnings()
        self.adapter = adapter
        self._model = copy.copy(adapter.built.model)  # each env its own: the renderer resizes its buffers
        self.metadata = {"render_modes": ["human", "rgb_array", "depth_array", "rgbd_tuple"],
                         "render_fps": int(np.round(1.0 / adapter.dt))}
        super().__init__(str(adapter.model_file), adapter.frame_skip, observation_space=None,
                         render_mode=render_mode, width=width, height=height,
                         default_camera_config=_camera(self._model, adapter.built.root))
        self._noise = adapter.reset_noise
        self._keep_qpos, self._obs_rows = observation_layout(adapter.spec, adapter.built)
        size = len(self._keep_qpos) + self.model.nv + len(self._obs_rows)
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(size,), dtype=np.float64)
        self._reward_fn = load_reward_fn(adapter.reward_file) if adapter.reward_file is not None else None
        self.state_row = adapter.row(self.data.sensordata)

    def _initialize_simulation(self) -> tuple[Any, Any]:
        model = self._model
        model.vis.global_.offwidth = max(model.vis.global_.offwidth, self.width)
        model.vis.global_.offheight = max(model.vis.global_.offheight, self.height)
        return model, mujoco.MjData(model)

    def _step_mujoco_simulation(self, ctrl: Any, n_frames: int) -> None:
        # Gymnasium also calls mj_rnePostConstraint here for cfrc_ext; every field here is a sensor, and MuJoCo
        # computes the force sensors' inputs itself.
        self.data.ctrl[:] = ctrl
        mujoco.mj_step(self.model, self.data, nstep=n_frames)

    def _observe(self) -> np.ndarray:
        self.state_row = self.adapter.row(self.data.sensordata)
        return np.concatenate([self.data.qpos[self._keep_qpos], self.data.qvel, self.state_row[self._obs_rows]])

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        self.do_simulation(action, self.frame_skip)
        obs = self._observe()
        spec = self.adapter.spec
        reward = 0.0
        if self._reward_fn is not None:
            act = np.asarray(action, dtype=np.float64).reshape(1, spec.action.dim)
            total, _ = self._reward_fn(spec.unpack(self.state_row[None]), act)
            reward = float(np.asarray(total).reshape(-1)[0])
        # the rule's verdict is the last field, healthy (ModelAdapter appends it)
        terminated = self.adapter.condition is not None and self.state_row[-1] == 0.0
        if self.render_mode == "human":
            self.render()
        return obs, reward, terminated, False, {}

    def reset_model(self) -> np.ndarray:
        n = self._noise
        qpos = self.init_qpos + self.np_random.uniform(-n, n, size=self.model.nq)
        qvel = self.init_qvel + n * self.np_random.standard_normal(self.model.nv)
        mujoco.mj_normalizeQuat(self.model, qpos)  # noise on a free or ball joint's quaternion
        self.set_state(qpos, qvel)
        return self._observe()

"""Adapters for Gymnasium's classic-control environments: CartPole, Pendulum, MountainCarContinuous.

Each reads the state from the observation returned by ``step`` (which, for these environments, is
the physical state itself or a lossless function of it).
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np

from rewardsmith.core.state import ActionSpec, StateField, StateSpec
from rewardsmith.envs.adapters import StateAdapter


class CartPoleAdapter(StateAdapter):
    env_id = "CartPole-v1"
    spec = StateSpec(
        fields=(
            StateField(name="cart_position", shape=(), unit="m", doc="cart position on the track, 0 = centre, positive = right of centre",
                       kind="position", low=-2.4, high=2.4, target=0.0, target_kind="hold"),
            StateField(name="cart_velocity", shape=(), unit="m/s", doc="cart velocity, positive = moving right",
                       kind="velocity"),
            StateField(name="pole_angle", shape=(), unit="rad", doc="pole angle from vertical, 0 = upright, positive = leaning right (clockwise as seen from the front)",
                       kind="angle", low=-0.2095, high=0.2095, target=0.0, target_kind="hold"),
            StateField(name="pole_angular_velocity", shape=(), unit="rad/s", doc="pole angular velocity, positive = turning clockwise (tipping right)",
                       kind="angular_velocity"),
        ),
        action=ActionSpec(1, "discrete push: 0 = push cart left, 1 = push cart right", 0, 1),
        notes=("The episode ends when |pole_angle| > 0.2095 rad or |cart_position| > 2.4 m, "
               "and is cut at 500 steps.",),
    )

    def read(self, env: gym.Env, obs: np.ndarray) -> np.ndarray:
        return np.asarray(obs, dtype=np.float64)


class PendulumAdapter(StateAdapter):
    env_id = "Pendulum-v1"
    spec = StateSpec(
        fields=(
            StateField(name="angle", shape=(), unit="rad", doc="pendulum angle in [-pi, pi], 0 = upright, ±pi = hanging down, positive = counter-clockwise of upright",
                       kind="angle", low=-math.pi, high=math.pi, target=0.0, target_kind="hold"),
            StateField(name="angular_velocity", shape=(), unit="rad/s", doc="pendulum angular velocity, positive = turning counter-clockwise",
                       kind="angular_velocity", low=-8.0, high=8.0),
        ),
        action=ActionSpec(1, "torque applied at the pivot, positive = counter-clockwise", -2.0, 2.0),
        notes=("Episodes start at a random angle and last 200 steps; there is no early termination.",),
    )

    def read(self, env: gym.Env, obs: np.ndarray) -> np.ndarray:
        cos, sin, thdot = (float(v) for v in obs)
        return np.array([math.atan2(sin, cos), thdot], dtype=np.float64)


class MountainCarContinuousAdapter(StateAdapter):
    env_id = "MountainCarContinuous-v0"
    spec = StateSpec(
        fields=(
            StateField(name="position", shape=(), unit="m", doc="car position along the valley, positive = right; the valley floor is near -0.52, the flag stands at 0.45 on the right hill",
                       kind="position", low=-1.2, high=0.6, target=0.45, target_kind="reach_at_least",
                       forward_sign=1),
            StateField(name="velocity", shape=(), unit="m/s", doc="car velocity, positive = moving right",
                       kind="velocity", low=-0.07, high=0.07),
            StateField(name="height", shape=(), unit="1", doc="height of the car on the track, sin(3·position): -1 at the valley floor, 1 at the right hilltop",
                       kind="height", low=-1.0, high=1.0),
        ),
        action=ActionSpec(1, "engine force, positive pushes right", -1.0, 1.0),
        notes=("The engine is too weak to drive straight up: the car must swing back and forth to "
               "build momentum. The episode ends when position >= 0.45 or after 999 steps; it starts "
               "at rest near position -0.5.",),
    )

    def read(self, env: gym.Env, obs: np.ndarray) -> np.ndarray:
        position, velocity = float(obs[0]), float(obs[1])
        return np.array([position, velocity, math.sin(3.0 * position)], dtype=np.float64)

"""JAX environments with the same state fields as the SB3 backend's adapters, one functional API for all.

A :class:`JaxEnv` is a pure-function environment for one task (``reset``/``step`` on one env; the
trainer vmaps them), plus the *state adapter* of the JAX backend: :meth:`JaxEnv.fields` maps the
simulator state to the task's :class:`~core.state.StateSpec` fields, **the very spec object** of the
Gymnasium adapter (so the names, units and sign conventions cannot drift; a cross-backend contract
test compares the values). Classic control comes from gymnax (CartPole-v1, Pendulum-v1,
MountainCarContinuous-v0); the MuJoCo tasks and tasks on a MuJoCo model step on native physics
(:mod:`envs.backends.jax.native_envs`) or MJX (:mod:`envs.backends.jax.mjx_envs`); :mod:`envs.backends.jax.registry`
builds a task's env.

``step`` never auto-resets: it returns the post-step state (what the reward and the fitness see,
the terminal state included) and separate ``terminated``/``truncated`` flags, so PPO can bootstrap
on time-outs as SB3 does; the trainer resets finished envs itself.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rewardsmith.core.state import StateSpec
from rewardsmith.envs.adapters import StateAdapter

Array = jax.Array
Fields = dict[str, Array]


class Step(NamedTuple):
    """One env's transition; every leaf is per-env (the trainer vmaps over envs)."""

    state: Any
    """Simulator state after the step (before any reset)."""
    obs: Array
    """(obs_dim,) float32, the Gymnasium observation of that state."""
    env_reward: Array
    """() the environment's own reward (the "human" baseline trains on it)."""
    terminated: Array
    """() bool: the env ended the episode (goal or failure)."""
    truncated: Array
    """() bool: the time limit cut the episode (and it was not terminated)."""


class JaxEnv(ABC):
    """A task's environment as pure JAX functions, with its state adapter.

    Attributes:
        env_id: the Gymnasium id this env reproduces.
        spec: the task's state schema (the Gymnasium adapter's own object).
        obs_dim: length of the observation (the same as Gymnasium's, so a policy trained here runs there).
        discrete: actions are integers in ``range(n_actions)`` (CartPole), else a float box.
        n_actions: number of discrete actions, or the box's dimension.
        action_low, action_high: the box bounds (ignored when discrete): one for every dimension, or one per dimension
            (``(n_actions,)``: a model whose actuators have different control ranges).
        max_steps: the time limit of an episode.
    """

    env_id: str
    spec: StateSpec
    obs_dim: int
    discrete: bool
    n_actions: int
    action_low: float | np.ndarray = -1.0
    action_high: float | np.ndarray = 1.0
    max_steps: int

    @abstractmethod
    def reset(self, key: Array) -> tuple[Any, Array]:
        """A fresh episode: ``(state, obs)``."""

    @abstractmethod
    def step(self, key: Array, state: Any, action: Array) -> Step:
        """Advance one env step (no auto-reset). ``action``: () int32 if discrete, else (n_actions,) float32,
        already clipped to the box."""

    @abstractmethod
    def fields(self, state: Any) -> Fields:
        """Every field of :attr:`spec` by name, per env (``()`` or the field's shape), float32."""

    def batch_env_reward(self, fields: Fields, actions: Array, env_reward: Array) -> Array:
        """The env's own reward of a whole batch, as the program pays it: ``fields`` and ``env_reward`` (what
        :meth:`step` gave) with leading batch axes, ``actions`` as :meth:`action_row` gives them. Default: the step's."""
        return env_reward

    def action_row(self, action: Array) -> Array:
        """The action as a reward sees it: ``(spec.action.dim,)`` float32 (a discrete action as its index)."""
        return jnp.asarray(action, jnp.float32).reshape(self.spec.action.dim)


def _spec(adapter: type[StateAdapter]) -> StateSpec:
    return adapter.spec


class _Gymnax(JaxEnv):
    """Shared plumbing over a gymnax environment (its default parameters)."""

    def __init__(self, env: Any) -> None:
        self._env = env
        self._params = env.default_params
        self.max_steps = int(self._params.max_steps_in_episode)

    def reset(self, key: Array) -> tuple[Any, Array]:
        obs, state = self._env.reset_env(key, self._params)
        return state, jnp.asarray(obs, jnp.float32)

    def step(self, key: Array, state: Any, action: Array) -> Step:
        obs, new, reward, _, _ = self._env.step_env(key, state, action, self._params)
        terminated = self.terminated(new)
        truncated = jnp.logical_and(new.time >= self.max_steps, jnp.logical_not(terminated))
        return Step(new, jnp.asarray(obs, jnp.float32), jnp.asarray(reward, jnp.float32).reshape(()),
                    terminated, truncated)

    @abstractmethod
    def terminated(self, state: Any) -> Array:
        """The env's own end-of-episode condition, without the time limit."""


class CartPoleJax(_Gymnax):
    """gymnax CartPole-v1; fields as :class:`envs.adapters.classic.CartPoleAdapter` (the observation itself)."""

    env_id = "CartPole-v1"
    obs_dim, discrete, n_actions = 4, True, 2

    def __init__(self) -> None:
        from gymnax.environments.classic_control.cartpole import CartPole

        from rewardsmith.envs.adapters.classic import CartPoleAdapter

        super().__init__(CartPole())
        self.spec = _spec(CartPoleAdapter)

    def terminated(self, state: Any) -> Array:
        p = self._params
        return jnp.logical_or(jnp.abs(state.x) > p.x_threshold, jnp.abs(state.theta) > p.theta_threshold_radians)

    def fields(self, state: Any) -> Fields:
        return {"cart_position": state.x, "cart_velocity": state.x_dot, "pole_angle": state.theta,
                "pole_angular_velocity": state.theta_dot}


class PendulumJax(_Gymnax):
    """gymnax Pendulum-v1; ``angle`` wrapped to [-pi, pi] as the Gymnasium adapter's ``atan2(sin, cos)``."""

    env_id = "Pendulum-v1"
    obs_dim, discrete, n_actions = 3, False, 1
    action_low, action_high = -2.0, 2.0

    def __init__(self) -> None:
        from gymnax.environments.classic_control.pendulum import Pendulum

        from rewardsmith.envs.adapters.classic import PendulumAdapter

        super().__init__(Pendulum())
        self.spec = _spec(PendulumAdapter)

    def step(self, key: Array, state: Any, action: Array) -> Step:
        out = super().step(key, state, action)
        # gymnax returns the reward with the action's shape (1,); Gymnasium's is a scalar.
        return out._replace(env_reward=out.env_reward.reshape(()))

    def terminated(self, state: Any) -> Array:
        return jnp.zeros((), bool)

    def fields(self, state: Any) -> Fields:
        theta = jnp.asarray(state.theta, jnp.float32)
        return {"angle": jnp.arctan2(jnp.sin(theta), jnp.cos(theta)),
                "angular_velocity": jnp.asarray(state.theta_dot, jnp.float32)}


class MountainCarContinuousJax(_Gymnax):
    """gymnax MountainCarContinuous-v0 with Gymnasium's left-wall rule (see :meth:`step`)."""

    env_id = "MountainCarContinuous-v0"
    obs_dim, discrete, n_actions = 2, False, 1

    def __init__(self) -> None:
        from gymnax.environments.classic_control.continuous_mountain_car import ContinuousMountainCar

        from rewardsmith.envs.adapters.classic import MountainCarContinuousAdapter

        super().__init__(ContinuousMountainCar())
        self.spec = _spec(MountainCarContinuousAdapter)

    def step(self, key: Array, state: Any, action: Array) -> Step:
        # Written out instead of gymnax's step_env: gymnax 0.0.9 zeroes a negative velocity at the *goal*
        # (position >= 0.45) where Gymnasium zeroes it at the *left wall* (position == min_position); the
        # backends must share the physics, so this follows Gymnasium's continuous_mountain_car.py.
        p = self._params
        force = jnp.clip(action[0], p.min_action, p.max_action)
        velocity = jnp.clip(state.velocity + force * p.power - jnp.cos(3.0 * state.position) * p.gravity,
                            -p.max_speed, p.max_speed)
        position = jnp.clip(state.position + velocity, p.min_position, p.max_position)
        velocity = jnp.where(jnp.logical_and(position <= p.min_position, velocity < 0), 0.0, velocity)
        new = state.replace(position=position, velocity=velocity, time=state.time + 1)
        terminated = self.terminated(new)
        reward = 100.0 * terminated - 0.1 * action[0] ** 2
        truncated = jnp.logical_and(new.time >= self.max_steps, jnp.logical_not(terminated))
        obs = jnp.stack([position, velocity]).astype(jnp.float32)
        return Step(new, obs, jnp.asarray(reward, jnp.float32), terminated, truncated)

    def terminated(self, state: Any) -> Array:
        p = self._params
        return jnp.logical_and(state.position >= p.goal_position, state.velocity >= p.goal_velocity)

    def fields(self, state: Any) -> Fields:
        position = jnp.asarray(state.position, jnp.float32)
        return {"position": position, "velocity": jnp.asarray(state.velocity, jnp.float32),
                "height": jnp.sin(3.0 * position)}


CLASSIC_ENVS: dict[str, type[JaxEnv]] = {e.env_id: e for e in (CartPoleJax, PendulumJax, MountainCarContinuousJax)}

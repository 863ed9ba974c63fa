"""Gymnasium/SB3 wrappers that replace the environment's reward with a designed one, on the batch.

:class:`StateCapture` (per environment) reads the adapter's state row right after each step, before
SB3's vector env auto-resets. :class:`BatchReward` (vector) stacks those rows into ``(B, D)``, asks
a :class:`RewardSource` for the total and its components, tracks episodes for the fitness function,
and hands the numbers to :class:`~envs.backends.sb3.stats.TrainingStats`. The environment's own
termination and reset are untouched: a reward cannot change them.

A *deferred* source (the sandboxed candidate) is not asked every step: PPO uses rewards only when it
computes returns at the end of a rollout, so the wrapper keeps the rollout's states and asks the
worker once, in :meth:`BatchReward.flush`, which the training callback calls before returns are
recomputed. One call per rollout instead of one per step removes the two context switches per step
that made a sandboxed reward train ~35 % slower than the env's own (bench/throughput.py).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnvStepReturn

from rewardsmith.core.state import StateSpec
from rewardsmith.envs.adapters import StateAdapter
from rewardsmith.envs.backends.sb3.stats import TrainingStats
from rewardsmith.envs.fitness import Episode, FitnessFn, compute_fitness
from rewardsmith.sandboxes.client import RewardProcess
from rewardsmith.sandboxes.validate import finite_in_training

STATE_KEY = "rewardsmith_state"
ACTION_KEY = "rewardsmith_action"


class NonFiniteReward(Exception):
    """The candidate returned NaN or infinity (in float32, the dtype training uses) during training."""


class StateCapture(gym.Wrapper):
    """Puts the adapter's flat state row (and the action as a float row) into ``info`` each step."""

    def __init__(self, env: gym.Env, adapter: StateAdapter) -> None:
        super().__init__(env)
        self.adapter = adapter

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        info[STATE_KEY] = self.adapter.read(self.env, obs)
        info[ACTION_KEY] = self.adapter.action_row(action)
        return obs, reward, terminated, truncated, info


class RewardSource(ABC):
    """Where the training reward comes from: a candidate, the env's own reward, or the sparse fitness."""

    name: str
    deferred: bool = False
    """Computed once per rollout (all its steps in one call) rather than every step."""

    @abstractmethod
    def __call__(self, states: np.ndarray, actions: np.ndarray, env_rewards: np.ndarray,
                 end_fitness: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Return the total ``(N,)`` and named components ``(N,)`` for ``N`` rows.

        Rows are one step of every environment (``N = B``), or for a deferred source a whole rollout,
        step-major (``N = T·B``). ``end_fitness`` holds the fitness of each episode that ended on that
        row's step, NaN elsewhere.
        """


class CandidateReward(RewardSource):
    """A designed reward, computed in its sandboxed worker process (never in this process).

    A step whose total or components hold NaN/inf — in float32, the dtype SB3's buffers hold rewards
    in, so 1e300 counts (it is finite only in float64) — is trained on with those entries set to 0 and
    counted in :attr:`nonfinite_steps`; :attr:`max_nonfinite_streak` such steps in a row end training
    with :class:`NonFiniteReward` (an occasional NaN at a rare state should not throw a run away; a
    reward that has gone NaN for good should not train on zeros).
    """

    name = "candidate"
    deferred = True

    def __init__(self, process: RewardProcess, n_envs: int, max_nonfinite_streak: int = 10) -> None:
        self.process = process
        self.n_envs = n_envs
        self.max_nonfinite_streak = max_nonfinite_streak
        self.nonfinite_steps = 0
        self._streak = 0

    def __call__(self, states: np.ndarray, actions: np.ndarray, env_rewards: np.ndarray,
                 end_fitness: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        out = self.process.call(states, actions)
        values = {"total": out.total, **out.components}
        finite = {n: finite_in_training(v).reshape(-1, self.n_envs) for n, v in values.items()}  # (steps, envs)
        for step, ok in enumerate(np.logical_and.reduce(list(finite.values())).all(axis=1)):
            if ok:
                self._streak = 0
                continue
            self.nonfinite_steps += 1
            self._streak += 1
            if self._streak >= self.max_nonfinite_streak:
                bad = [n for n, f in finite.items() if not f[step].all()]
                env = int(np.argmin(np.logical_and.reduce([f[step] for f in finite.values()])))
                row = step * self.n_envs + env
                at = ", ".join(f"{f.name}={np.round(states[row, s], 3).tolist()}"
                               for f, s in self.process.spec.slices())
                raise NonFiniteReward(f"the reward was NaN or infinite (in float32, the dtype training uses) for "
                                      f"{self._streak} steps in a row "
                                      f"(in: {', '.join(bad)}; e.g. at {at})")
        if self.nonfinite_steps == 0:
            return out.total, out.components
        return _finite(out.total), {n: _finite(v) for n, v in out.components.items()}


def _finite(values: np.ndarray) -> np.ndarray:
    return np.where(finite_in_training(values), values, 0.0)


class EnvReward(RewardSource):
    """The environment's own shipped reward: the "human" baseline."""

    name = "env"

    def __call__(self, states: np.ndarray, actions: np.ndarray, env_rewards: np.ndarray,
                 end_fitness: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        return env_rewards, {"env_reward": env_rewards}


class SparseReward(RewardSource):
    """The task's fitness, paid once at the end of each episode: the "sparse" baseline."""

    name = "sparse"

    def __call__(self, states: np.ndarray, actions: np.ndarray, env_rewards: np.ndarray,
                 end_fitness: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        total = np.where(np.isnan(end_fitness), 0.0, end_fitness)
        return total, {"fitness_at_end": total}


class BatchReward(VecEnvWrapper):
    """Computes the reward for the whole batch of environments from their named state fields."""

    def __init__(self, venv: VecEnv, spec: StateSpec, source: RewardSource, fitness: FitnessFn,
                 stats: TrainingStats) -> None:
        super().__init__(venv)
        self.spec, self.source, self.fitness, self.stats = spec, source, fitness, stats
        n = venv.num_envs
        self._episodes: list[tuple[list[np.ndarray], list[np.ndarray], list[float]]] = [([], [], []) for _ in range(n)]
        self._pending: list[tuple[np.ndarray, ...]] = []  # a deferred source's steps since the last flush

    def reset(self) -> Any:
        for ep in self._episodes:
            for part in ep:
                part.clear()
        return self.venv.reset()

    def step_async(self, actions: np.ndarray) -> None:
        self.venv.step_async(actions)

    def step_wait(self) -> VecEnvStepReturn:
        obs, env_rewards, dones, infos = self.venv.step_wait()
        states = np.stack([info[STATE_KEY] for info in infos])
        actions = np.stack([info[ACTION_KEY] for info in infos])
        end_fitness = self._track_episodes(states, actions, env_rewards, dones, infos)
        if self.source.deferred:
            self._pending.append((states, actions, env_rewards.astype(np.float64), dones, end_fitness))
            return obs, np.zeros(len(dones), dtype=np.float32), dones, infos
        total, components = self.source(states, actions, env_rewards.astype(np.float64), end_fitness)
        self.stats.record_step(total, components, env_rewards, dones, end_fitness)
        return obs, total.astype(np.float32), dones, infos

    def flush(self) -> np.ndarray | None:
        """Compute a deferred source's rewards for every step since the last flush: ``(T, B)``, or None.

        The rewards ``step_wait`` returned for those steps were zeros; the caller adds these in their place.
        """
        if not self._pending:
            return None
        states, actions, env_rewards, dones, end_fitness = (np.stack(part) for part in zip(*self._pending, strict=True))
        self._pending.clear()
        steps, envs = dones.shape
        total, components = self.source(states.reshape(steps * envs, -1), actions.reshape(steps * envs, -1),
                                        env_rewards.reshape(-1), end_fitness.reshape(-1))
        total = total.reshape(steps, envs)
        per_step = {n: v.reshape(steps, envs) for n, v in components.items()}
        for t in range(steps):
            self.stats.record_step(total[t], {n: v[t] for n, v in per_step.items()}, env_rewards[t], dones[t],
                                   end_fitness[t])
        return total

    def _track_episodes(self, states: np.ndarray, actions: np.ndarray, env_rewards: np.ndarray,
                        dones: np.ndarray, infos: list[dict[str, Any]]) -> np.ndarray:
        end_fitness = np.full(len(dones), np.nan)
        for i, (ep_states, ep_actions, ep_rewards) in enumerate(self._episodes):
            ep_states.append(states[i])
            ep_actions.append(actions[i])
            ep_rewards.append(float(env_rewards[i]))
            if dones[i]:
                truncated = bool(infos[i].get("TimeLimit.truncated", False))
                episode = Episode.from_rows(self.spec, ep_states, ep_actions, ep_rewards, not truncated, truncated)
                end_fitness[i] = compute_fitness(self.fitness, episode)
                ep_states.clear()
                ep_actions.clear()
                ep_rewards.clear()
        return end_fitness

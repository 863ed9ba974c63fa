"""Use a RewardSmith reward in your own training: a Gymnasium wrapper that replaces the env's reward.

::

    env = RewardSmithReward(gym.make("Hopper-v5"), "best_reward.py")
    model = stable_baselines3.PPO("MlpPolicy", env).learn(100_000)

After each ``step`` the task's state adapter reads the named state fields (``state.x_velocity`` …),
the reward's ``compute_reward(state, action)`` is called on that one row, and the step returns its
total as the reward. Each component goes into ``info`` as ``info["reward_<name>"]`` (the way
Gymnasium's MuJoCo v5 envs report ``reward_forward``, ``reward_ctrl``), and the env's own reward as
``info["env_reward"]``. Termination, truncation and observations stay the environment's own.

The reward is checked by the same static rules as a candidate and runs in RewardSmith's sandboxed worker (:class:`sandboxes.client.RewardProcess`: bubblewrap
+ seccomp + rlimits), one call per step, never in this process; :meth:`RewardSmithReward.close`
ends the worker. ``trusted=True`` runs it in this process instead, for code you wrote or read
yourself; that is announced with a :class:`TrustedRewardWarning`.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from rewardsmith.core.errors import RewardSmithError, TaskError
from rewardsmith.core.state import StateSpec
from rewardsmith.envs.adapters import StateAdapter
from rewardsmith.sandboxes.client import CandidateFault, RewardProcess, SandboxLimits
from rewardsmith.sandboxes.static import check_source

ENV_REWARD_KEY = "env_reward"
COMPONENT_PREFIX = "reward_"

Components = dict[str, np.ndarray]
Evaluate = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, Components]]


class RewardError(RewardSmithError):
    """The reward raised, hung, crashed, or returned something that is not a finite reward."""


class TrustedRewardWarning(UserWarning):
    """A reward is executed inside this Python process, without the sandbox (``trusted=True``)."""


def adapter_for(env: gym.Env, task: str | Path | None = None) -> StateAdapter:
    """The state adapter for ``env``: the given task's, or the built-in one for the env's Gymnasium id.

    Raises:
        TaskError: the env has no built-in adapter (the valid ids are listed), or ``task`` is for
            another environment.
    """
    from rewardsmith.envs.tasks import ADAPTERS, load_task

    env_id = env.spec.id if env.spec is not None else None
    if task is not None:
        loaded = load_task(task)
        if env_id is not None and env_id != loaded.env_id:
            raise TaskError(f"task {loaded.name!r} is for {loaded.env_id!r}, but the env is {env_id!r}")
        return loaded.adapter
    if env_id is None:
        raise TaskError("the env has no Gymnasium id (it was not built with gym.make); pass task= or adapter=")
    if env_id not in ADAPTERS:
        raise TaskError(f"no built-in state adapter for {env_id!r}; built-in: {', '.join(sorted(ADAPTERS))} "
                        "(or pass task='my_task.toml' or adapter=MyAdapter())")
    return ADAPTERS[env_id]()


class RewardSmithReward(gym.Wrapper[Any, Any, Any, Any], gym.utils.RecordConstructorArgs):
    """Replaces ``env``'s reward with a RewardSmith reward file's total; components go into ``info``.

    Args:
        env: a Gymnasium environment (e.g. ``gym.make("Hopper-v5")``).
        reward: path to the reward module (``best_reward.py``: a ``compute_reward(state, action)``).
        task: a built-in task name or task file whose adapter reads the state; default: the built-in
            adapter for ``env.spec.id``.
        adapter: a :class:`~envs.adapters.StateAdapter` to use instead (e.g. a custom one).
        trusted: run the reward in this process, without any sandbox. Only for code you trust.
        limits: the sandboxed worker's limits (memory, per-call timeout).
        allow_weak_isolation: run the worker even where bubblewrap + seccomp + rlimits is not
            available (see ``sandboxes/README.md``).

    Raises:
        TaskError: no adapter for the env. ``RewardError``: the reward cannot be read or loaded.
        ``SandboxError``: the sandbox cannot be set up here.
    """

    def __init__(self, env: gym.Env, reward: str | Path, *, task: str | Path | None = None,
                 adapter: StateAdapter | None = None, trusted: bool = False, limits: SandboxLimits | None = None,
                 allow_weak_isolation: bool = False) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, reward=str(reward), task=None if task is None else str(task),
                                                 adapter=adapter, trusted=trusted, limits=limits,
                                                 allow_weak_isolation=allow_weak_isolation)
        gym.Wrapper.__init__(self, env)
        if task is not None and adapter is not None:
            raise TaskError("give task= or adapter=, not both")
        self.adapter = adapter if adapter is not None else adapter_for(env, task)
        self.reward_file = Path(reward)
        try:
            source = self.reward_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise RewardError(f"cannot read the reward file {self.reward_file}: {why}") from None
        self.last_info: dict[str, Any] = {}
        """The inner env's last ``info``; MuJoCo adapters read the env's own measurements from it."""
        self.components: tuple[str, ...] = ()
        """The reward's component names, known after the first step."""
        self._steps = 0
        self._process: RewardProcess | None = None
        self._evaluate: Evaluate
        if trusted:
            warnings.warn(f"RewardSmithReward(trusted=True): {self.reward_file} runs inside this Python process "
                          "with no sandbox; use it only for code you trust", TrustedRewardWarning, stacklevel=2)
            self._evaluate = _in_process(source, self.reward_file, self.adapter.spec)
            self.sandbox = "none: trusted=True, the reward runs in this process"
        else:
            static = check_source(source)  # the same two layers a candidate passes: static rules, then the worker
            if not static.ok:
                raise RewardError(f"{self.reward_file}: refused by the static check: "
                                  + "; ".join(str(e) for e in static.errors))
            self._process = RewardProcess(source, self.adapter.spec, limits or SandboxLimits(max_batch=1),
                                          allow_weak_isolation=allow_weak_isolation)
            try:
                self._process.start()
            except CandidateFault as fault:
                raise RewardError(f"{self.reward_file}: loading the reward failed: {fault.kind}: {fault.message}") from None
            # A wrapper that is dropped without close() must not leave its worker behind.
            self._finalizer = weakref.finalize(self, self._process.close)
            self._evaluate = self._process_call
            self.sandbox = self._process.isolation.describe()

    # -- gymnasium API ---------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self.last_info = info
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, env_reward, terminated, truncated, info = self.env.step(action)
        self.last_info = info
        state = self.adapter.read(self, obs).reshape(1, self.adapter.spec.size)
        act = self.adapter.action_row(action).reshape(1, self.adapter.spec.action.dim)
        total, components = self._evaluate(state, act)
        self._steps += 1
        values = {"total": total, **components}
        bad = [n for n, v in values.items() if v.shape != (1,) or not np.isfinite(v).all()]
        if bad:
            at = ", ".join(f"{f.name}={np.round(state[0, s], 3).tolist()}" for f, s in self.adapter.spec.slices())
            raise RewardError(f"{self.reward_file}: step {self._steps}: {', '.join(bad)} is not one finite number "
                              f"per state (at {at})")
        self.components = tuple(components)
        info = dict(info)
        info[ENV_REWARD_KEY] = float(env_reward)
        for name, value in components.items():
            info[COMPONENT_PREFIX + name] = float(value[0])
        return obs, float(total[0]), bool(terminated), bool(truncated), info

    def close(self) -> None:
        """End the reward worker (idempotent), then close the wrapped env."""
        if self._process is not None:
            self._finalizer()
        super().close()

    # -- evaluation ------------------------------------------------------------------------------
    def _process_call(self, state: np.ndarray, action: np.ndarray) -> tuple[np.ndarray, Components]:
        assert self._process is not None
        try:
            out = self._process.call(state, action)
        except CandidateFault as fault:
            raise RewardError(f"{self.reward_file}: step {self._steps + 1}: {fault.kind}: {fault.message}") from None
        return out.total, out.components


def _in_process(source: str, path: Path, spec: StateSpec) -> Evaluate:
    """Execute the reward module here (``trusted=True``) and return a checked ``compute_reward``."""
    namespace: dict[str, Any] = {"__name__": "rewardsmith_trusted_reward", "__file__": str(path)}
    try:
        exec(compile(source, str(path), "exec"), namespace)  # trusted=True: the user vouched for this code
    except Exception as exc:
        raise RewardError(f"{path}: loading the reward raised {type(exc).__name__}: {exc}") from None
    fn = namespace.get("compute_reward")
    if not callable(fn):
        raise RewardError(f"{path}: no compute_reward(state, action) function")

    def evaluate(state: np.ndarray, action: np.ndarray) -> tuple[np.ndarray, Components]:
        state.setflags(write=False)
        action.setflags(write=False)
        try:
            out = fn(spec.unpack(state), action)
            total, comps = out
            result = _as_row(total), {str(n): _as_row(v) for n, v in dict(comps).items()}
        except RewardError:
            raise
        except Exception as exc:
            raise RewardError(f"{path}: compute_reward raised {type(exc).__name__}: {exc}") from None
        return result

    return evaluate


def _as_row(value: Any) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    return arr.reshape(1) if arr.size == 1 else arr

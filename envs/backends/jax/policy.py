"""A JAX-trained policy as plain arrays, and a NumPy copy of it that the existing evaluator can run.

Evaluation stays where it is for both backends: the evaluator process builds the task's
*Gymnasium* env and plays deterministic episodes on the run's held-out seeds with
:func:`envs.evaluation.play_episode`, and the task's own fitness function scores the recorded
episodes. So the JAX backend's policies are scored on exactly the env, the seeds and the fitness
code the SB3 backend's are — the comparison between backends is like for like — and the evaluator
needs neither JAX nor torch for them: :class:`NumpyPolicy` is the actor's forward pass in NumPy
(the JAX envs give Gymnasium's observations, a contract test checks that). Saved with
:func:`save_policy` as ``policy.npz`` (arrays only, loaded with ``allow_pickle=False``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rewardsmith.core.atomic import write_bytes

if TYPE_CHECKING:
    from rewardsmith.envs.backends.records import PolicyConfig

FORMAT = "rewardsmith-jax-ppo-1"


def flatten_params(tree: Any, prefix: str = "") -> dict[str, np.ndarray]:
    """A flax parameter tree as ``{"params/pi_0/kernel": array, ...}``."""
    if isinstance(tree, dict) or hasattr(tree, "items"):
        out: dict[str, np.ndarray] = {}
        for key, value in tree.items():
            out.update(flatten_params(value, f"{prefix}{key}/"))
        return out
    return {prefix[:-1]: np.asarray(tree)}


@dataclass(frozen=True)
class PolicyMeta:
    """What :class:`NumpyPolicy` needs besides the weights."""

    discrete: bool
    action_low: float | np.ndarray
    """One bound for every action dimension, or one per dimension (a model's actuators with different ranges)."""
    action_high: float | np.ndarray
    n_hidden: int


def save_policy(path: Path, params: dict[str, np.ndarray], discrete: bool, action_low: float | np.ndarray,
                action_high: float | np.ndarray) -> None:
    """Write ``policy.npz``: the flat weights plus the format tag and the action bounds, arrays only (per-dimension
    bounds in ``__low__``/``__high__``, the meta's then NaN)."""
    n_hidden = len({k.split("/")[1] for k in params if k.split("/")[1].removeprefix("pi_").isdigit()})
    per_dim = np.ndim(action_low) > 0 or np.ndim(action_high) > 0
    low, high = (np.nan, np.nan) if per_dim else (float(action_low), float(action_high))
    meta = np.array([float(discrete), low, high, float(n_hidden)])
    arrays: dict[str, Any] = {**params, "__format__": np.array(FORMAT), "__meta__": meta}
    if per_dim:
        arrays.update(__low__=np.asarray(action_low, np.float32), __high__=np.asarray(action_high, np.float32))
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    write_bytes(path, buf.getvalue())  # atomic, and the folder is made if needed


def is_jax_policy(path: Path) -> bool:
    """True if ``path`` is a policy file written by :func:`save_policy` (an SB3 one has no format tag)."""
    with np.load(path, allow_pickle=False) as data:
        return "__format__" in data.files and str(data["__format__"]) == FORMAT


def sb3_state_dict(path: Path, config: PolicyConfig) -> dict[str, np.ndarray]:
    """The policy's arrays under the names of SB3's ``MlpPolicy`` state dict, for ``rewardsmith export``'s policy.zip.

    :class:`~envs.backends.jax.ppo.ActorCritic` is SB3's layout (separate actor and critic MLPs, tanh, a
    state-independent ``log_std``), so an SB3 PPO with the task's architecture holding these arrays acts exactly
    as this policy does (flax's ``(in, out)`` kernels become torch's ``(out, in)`` weights).
    """
    if config.use_sde:
        raise ValueError("the jax backend's policy has no gSDE noise, so it has no SB3 gSDE counterpart")
    with np.load(path, allow_pickle=False) as data:
        if "__format__" not in data.files or str(data["__format__"]) != FORMAT:
            raise ValueError(f"{path} is not a JAX-backend policy file (no {FORMAT!r} tag)")
        params = {k: data[k] for k in data.files if not k.startswith("__")}
        discrete, n_hidden = bool(data["__meta__"][0]), int(data["__meta__"][3])
    state: dict[str, np.ndarray] = {}
    for net, prefix in (("policy_net", "pi"), ("value_net", "vf")):
        for i in range(n_hidden):  # SB3's Sequential: Linear at 0, 2, 4 …, tanh between
            state[f"mlp_extractor.{net}.{2 * i}.weight"] = params[f"params/{prefix}_{i}/kernel"].T
            state[f"mlp_extractor.{net}.{2 * i}.bias"] = params[f"params/{prefix}_{i}/bias"]
    for sb3, ours in (("action_net", "pi_out"), ("value_net", "vf_out")):
        state[f"{sb3}.weight"], state[f"{sb3}.bias"] = params[f"params/{ours}/kernel"].T, params[f"params/{ours}/bias"]
    if not discrete:
        state["log_std"] = params["params/log_std"]
    return {k: np.ascontiguousarray(v) for k, v in state.items()}


class NumpyPolicy:
    """The actor of a JAX-trained policy; ``predict`` has SB3's signature, so ``play_episode`` runs it."""

    def __init__(self, params: dict[str, np.ndarray], meta: PolicyMeta) -> None:
        self.meta = meta
        self.layers = [(params[f"params/pi_{i}/kernel"], params[f"params/pi_{i}/bias"]) for i in range(meta.n_hidden)]
        self.out = (params["params/pi_out/kernel"], params["params/pi_out/bias"])
        self.log_std = params["params/log_std"]

    @classmethod
    def load(cls, path: Path) -> NumpyPolicy:
        if not is_jax_policy(path):
            raise ValueError(f"{path} is not a JAX-backend policy file (no {FORMAT!r} tag)")
        with np.load(path, allow_pickle=False) as data:
            meta = data["__meta__"]
            params = {k: data[k] for k in data.files if not k.startswith("__")}
            low: float | np.ndarray = data["__low__"] if "__low__" in data.files else float(meta[1])
            high: float | np.ndarray = data["__high__"] if "__high__" in data.files else float(meta[2])
        return cls(params, PolicyMeta(bool(meta[0]), low, high, int(meta[3])))

    def head(self, obs: np.ndarray) -> np.ndarray:
        """obs: (obs_dim,) or (B, obs_dim) → logits or Gaussian mean, float32 arithmetic as in training."""
        x = np.asarray(obs, dtype=np.float32)
        for kernel, bias in self.layers:
            x = np.tanh(x @ kernel + bias)
        return x @ self.out[0] + self.out[1]

    def predict(self, obs: np.ndarray, deterministic: bool = True) -> tuple[Any, None]:
        """The deterministic action (argmax, or the mean clipped to the box), as SB3's ``predict`` gives it."""
        if not deterministic:
            raise ValueError("NumpyPolicy only plays deterministically (evaluation)")
        head = self.head(obs)
        if self.meta.discrete:
            action = np.argmax(head, axis=-1)
            return (int(action) if np.ndim(action) == 0 else action), None
        return np.clip(head, self.meta.action_low, self.meta.action_high).astype(np.float32), None


def load(path: Path, config: object, observation_space: object, action_space: object) -> NumpyPolicy:
    """The loader :func:`envs.backends.load_policy` calls for this format (the file says its own shapes)."""
    return NumpyPolicy.load(path)

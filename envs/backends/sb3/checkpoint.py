"""A PPO training's resumable state as plain arrays: policy weights, Adam's moments, step counters.

A round's allocation in rungs (``agent.train.allocation``) stops most candidates at a rung and continues the rest; a
continued candidate must pick up where it stopped, with the same policy *and* optimizer state, not
start again. SB3's own ``model.save`` pickles (cloudpickle in a zip), so RewardSmith writes its own
``checkpoint.npz`` instead and loads it with ``allow_pickle=False``:

- ``policy/<name>``: every tensor of ``policy.state_dict()``;
- ``adam/<param index>/<name>``: Adam's per-parameter state (``step``, ``exp_avg``, ``exp_avg_sq``);
- ``meta``: one JSON string (numpy unicode scalar): ``num_timesteps``, ``n_updates``, Adam's
  ``param_groups`` (learning rate, betas, …, with parameter indices).

What is not kept: the environments' current episodes (a resumed training resets them, as a new PPO
run would) and SB3's random generator state. Imported only inside a training job (torch).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rewardsmith.core.atomic import write_bytes

_META = "meta"


@dataclass(frozen=True, kw_only=True)
class ResumeState:
    num_timesteps: int
    n_updates: int


def save_checkpoint(model: Any, path: Path) -> None:
    """Write ``model``'s (an SB3 PPO) resumable state to ``path`` atomically."""
    arrays: dict[str, np.ndarray] = {f"policy/{k}": v.detach().cpu().numpy()
                                     for k, v in model.policy.state_dict().items()}
    optim = model.policy.optimizer.state_dict()
    for index, state in optim["state"].items():
        for name, value in state.items():
            arrays[f"adam/{int(index)}/{name}"] = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach")
                                                             else value)
    meta = {"num_timesteps": int(model.num_timesteps), "n_updates": int(model._n_updates),
            "param_groups": optim["param_groups"]}
    arrays[_META] = np.asarray(json.dumps(meta))
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    write_bytes(path, buf.getvalue())


def load_checkpoint(model: Any, path: Path) -> ResumeState:
    """Load the state saved by :func:`save_checkpoint` into a freshly built ``model`` with the same settings.

    Raises:
        ValueError: the file is not such a checkpoint, or does not fit the model's policy.
    """
    import torch

    with np.load(path, allow_pickle=False) as data:
        if _META not in data.files:
            raise ValueError(f"{path}: not a RewardSmith training checkpoint (no meta entry)")
        meta = json.loads(str(data[_META]))
        policy = {k[len("policy/"):]: torch.as_tensor(data[k]) for k in data.files if k.startswith("policy/")}
        state: dict[int, dict[str, torch.Tensor]] = {}
        for key in data.files:
            if key.startswith("adam/"):
                _, index, name = key.split("/", 2)
                state.setdefault(int(index), {})[name] = torch.as_tensor(data[key])
    try:
        model.policy.load_state_dict(policy)
        model.policy.optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    except (RuntimeError, KeyError, ValueError) as exc:
        raise ValueError(f"{path}: does not fit this task's policy ({str(exc).splitlines()[0]})") from None
    model.num_timesteps = int(meta["num_timesteps"])
    model._n_updates = int(meta["n_updates"])
    return ResumeState(num_timesteps=model.num_timesteps, n_updates=model._n_updates)

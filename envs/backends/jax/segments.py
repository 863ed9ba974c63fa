"""The file a JAX round's state is saved in at the end of each segment, so a killed round resumes from there.

A segment is one compiled call of the round's program (``rollouts_per_call`` PPO iterations, cut so that
no call crosses an allocation rung). After each, the job saves, atomically (:func:`core.atomic.write_bytes`,
one ``.npz``), what a continuation needs: every arm's policy and optimizer state, the PRNG keys, the NaN
counters and the env-step count (:data:`CARRIED`), the host's :class:`~envs.backends.jax.ledger.Ledger`
(every rollout's statistics, the stopped arms' policies) and the allocation's state. The environments'
states are not kept: a resumed round starts fresh episodes. A rerun of the same job (the same
fingerprint: its spec and its modules' bytes) continues after the last saved segment, so a kill loses at
most the segment in flight; a file left by another job, unreadable, or not matching the program's shapes
is ignored, and the round starts from zero.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from pydantic import TypeAdapter, ValidationError

from rewardsmith.core.atomic import write_bytes
from rewardsmith.envs.backends.allocation import AllocationState
from rewardsmith.envs.backends.jax.ledger import Ledger

CARRIED = ("params", "opt", "key", "alive", "streak", "nonfinite", "died_at", "timestep")
"""The parts of the program's carry a resumed round keeps (the envs and the running episodes start afresh)."""
_STATE = TypeAdapter(AllocationState)


@dataclass(frozen=True)
class Saved:
    """What a segment's end left: the program's members and carried arrays, the ledger, the allocation."""

    members: tuple[int, ...]
    """The arms in the program (their places in the round), in its order."""
    leaves: list[np.ndarray]
    ledger_arrays: dict[str, np.ndarray]
    ledger_meta: dict[str, Any]
    allocation: AllocationState | None

    def into(self, carry: Any) -> Any | None:
        """A fresh carry of the same program with the saved parts put in; None when they do not fit it."""
        fresh, tree = jax.tree.flatten({name: getattr(carry, name) for name in CARRIED})
        if len(fresh) != len(self.leaves) or any(
                np.shape(a) != b.shape or np.dtype(a.dtype) != b.dtype for a, b in zip(fresh, self.leaves, strict=True)):
            return None
        return carry._replace(**jax.tree.unflatten(tree, [jnp.asarray(x) for x in self.leaves]))


@dataclass(frozen=True)
class SegmentFile:
    """Where one job saves its round at the end of each segment (``RoundFiles.jax_round("carry")`` in a run)."""

    path: Path
    fingerprint: str
    """The job's identity (its spec and its modules): a file saved by any other job is not resumed from."""

    def save(self, carry: Any, ledger: Ledger, members: tuple[int, ...], allocation: AllocationState | None) -> None:
        leaves = jax.tree.leaves(jax.device_get({name: getattr(carry, name) for name in CARRIED}))
        arrays = {f"carry/{j}": np.asarray(x) for j, x in enumerate(leaves)}
        arrays.update({f"ledger/{k}": v for k, v in ledger.arrays().items()})
        meta = {"fingerprint": self.fingerprint, "members": list(members), "ledger": ledger.meta(),
                "allocation": None if allocation is None else _STATE.dump_json(allocation).decode()}
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # type: ignore[arg-type]
        write_bytes(self.path, buffer.getvalue())

    def load(self) -> Saved | None:
        """The last segment's state of this job, or None (no file, another job's, or unreadable)."""
        if not self.path.is_file():
            return None
        try:
            with np.load(self.path, allow_pickle=False) as data:
                arrays = {k: np.array(data[k]) for k in data.files}
            meta = json.loads(arrays.pop("meta").tobytes().decode())
            if meta.get("fingerprint") != self.fingerprint:
                return None
            state = meta["allocation"]
            return Saved(members=tuple(int(m) for m in meta["members"]),
                         leaves=[arrays[f"carry/{j}"] for j in range(sum(k.startswith("carry/") for k in arrays))],
                         ledger_arrays={k[len("ledger/"):]: v for k, v in arrays.items() if k.startswith("ledger/")},
                         ledger_meta=meta["ledger"], allocation=None if state is None else _STATE.validate_json(state))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, ValidationError):
            return None

    def clear(self) -> None:
        """The round finished: its results are written, nothing is left to resume."""
        self.path.unlink(missing_ok=True)

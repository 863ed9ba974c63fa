"""Named, documented, batch-first state fields: the vocabulary a reward function is written in.

A :class:`StateSpec` lists the fields of one environment (name, per-env shape, unit, meaning). An
adapter packs one environment's post-step state into a flat float64 row; a batch of rows is
``(B, D)`` and :meth:`StateSpec.unpack` turns it into a :class:`StateBatch` whose attributes are
read-only views, e.g. ``state.velocity`` of shape ``(B,)`` or ``state.joint_pos`` of ``(B, 6)``.
The compact description the designer reads is generated from the spec, never written twice.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

FieldKind = Literal[
    "position", "velocity", "angle", "angular_velocity", "height", "distance", "indicator", "other"
]
TargetKind = Literal["hold", "reach_at_least", "reach_at_most"]


@dataclass(frozen=True, kw_only=True)
class StateField:
    """One named state quantity, per environment.

    Attributes:
        name: Python identifier used as ``state.<name>``.
        shape: per-environment shape; ``()`` for a scalar, so the batch has shape ``(B,)``.
        unit: physical unit, e.g. ``"m/s"``, ``"rad"``, ``"1"`` for dimensionless.
        doc: one line of meaning, written for a person and a language model.
        kind: coarse meaning, used by the offline designer to choose term templates.
        low: lower bound of the field's usual range, when known.
        high: upper bound of the field's usual range, when known.
        target: a value the task names (e.g. the flag position), when there is one.
        target_kind: how the target is meant: stay near it (``hold``) or get past it.
        forward_sign: +1 if larger values mean "forward" / "more progress", -1 if smaller do.
    """

    name: str
    shape: tuple[int, ...]
    unit: str
    doc: str
    kind: FieldKind = "other"
    low: float | None = None
    high: float | None = None
    target: float | None = None
    target_kind: TargetKind | None = None
    forward_sign: int = 0

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    def describe(self) -> str:
        """One line: ``name: (B, 6) rad — meaning [range; target]``."""
        shape = "(B" + "".join(f", {n}" for n in self.shape) + ")" if self.shape else "(B,)"
        extras = []
        if self.low is not None and self.high is not None:
            extras.append(f"range [{self.low:g}, {self.high:g}]")
        if self.target is not None:  # a reference value of the body or the env, not a goal: that is the task's
            extras.append(f"reference value {self.target:g}")
        tail = f" ({'; '.join(extras)})" if extras else ""
        return f"state.{self.name}: {shape} float, {self.unit} — {self.doc}{tail}"


@dataclass(frozen=True)
class ActionSpec:
    """The action as the reward function sees it: always ``(B, dim)`` float."""

    dim: int
    doc: str
    low: float | None = None
    high: float | None = None

    def describe(self) -> str:
        rng = f" (range [{self.low:g}, {self.high:g}])" if self.low is not None and self.high is not None else ""
        return f"action: (B, {self.dim}) float — {self.doc}{rng}"


@dataclass(frozen=True)
class StateSpec:
    """The ordered fields of one environment and their layout in a flat ``(B, D)`` row."""

    fields: tuple[StateField, ...]
    action: ActionSpec
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate state field names in {names}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def size(self) -> int:
        """D: the length of one flat state row."""
        return sum(f.size for f in self.fields)

    def slices(self) -> Iterator[tuple[StateField, slice]]:
        start = 0
        for f in self.fields:
            yield f, slice(start, start + f.size)
            start += f.size

    def unpack(self, flat: np.ndarray) -> StateBatch:
        """View a ``(B, D)`` array as named fields (no copy; read-only if ``flat`` is)."""
        if flat.ndim != 2 or flat.shape[1] != self.size:
            raise ValueError(f"expected a (B, {self.size}) state array, got shape {flat.shape}")
        batch = flat.shape[0]
        return StateBatch({f.name: flat[:, s].reshape((batch, *f.shape)) for f, s in self.slices()})

    def pack(self, values: Mapping[str, np.ndarray]) -> np.ndarray:
        """Inverse of :meth:`unpack`: named ``(B, *shape)`` arrays to one ``(B, D)`` float64 array."""
        missing = set(self.names) - set(values)
        if missing:
            raise ValueError(f"missing state fields {sorted(missing)}")
        batch = len(next(iter(values.values())))
        out = np.empty((batch, self.size), dtype=np.float64)
        for f, s in self.slices():
            out[:, s] = np.asarray(values[f.name], dtype=np.float64).reshape(batch, f.size)
        return out

    def describe(self) -> str:
        """The compact, typed description shown to designers (Text2Reward-style)."""
        lines = [f.describe() for f in self.fields]
        lines.append(self.action.describe())
        lines.extend(self.notes)
        return "\n".join(lines)


class StateBatch:
    """Attribute access to named batched arrays: ``state.velocity`` → ``(B,)``.

    Unknown names raise an :class:`AttributeError` that lists the valid fields, so a reward that
    uses a field the environment does not have gets a message it can act on.
    """

    __slots__ = ("_fields",)

    def __init__(self, fields: dict[str, np.ndarray]) -> None:
        object.__setattr__(self, "_fields", fields)

    def __getattr__(self, name: str) -> np.ndarray:
        fields = object.__getattribute__(self, "_fields")
        try:
            return fields[name]
        except KeyError:
            raise AttributeError(
                f"state has no field {name!r}; the fields are: {', '.join(sorted(fields))}"
            ) from None

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("state is read-only")

    def __dir__(self) -> list[str]:
        return sorted(object.__getattribute__(self, "_fields"))

    def as_dict(self) -> dict[str, np.ndarray]:
        return dict(object.__getattribute__(self, "_fields"))

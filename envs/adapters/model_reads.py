"""How one state field of a task on a MuJoCo model is read from ``sensordata``: a formula over a few elements.

:class:`Read` works on any batch shape with ``numpy`` or ``jax.numpy`` (other physics engines hand back a batch of
``sensordata``); :class:`RowReader` packs one env's row quickly for the Gymnasium env. The fields and their reads
are decided by :mod:`envs.adapters.model_fields`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

import numpy as np

from rewardsmith.core.state import StateField

Formula = Literal["slice", "heading", "flag", "norm", "distance", "local"]


@dataclass(frozen=True)
class Read:
    """How one field comes out of ``sensordata``: a formula over some of its elements."""

    field: StateField
    formula: Formula
    index: tuple[int, ...]
    """The ``sensordata`` elements it reads: the field's own (``slice``), an axis' x and y (``heading``), a contact
    count (``flag``), a force (``norm``), two positions (``distance``: 3 + 3), a world vector and the body's axes
    it is expressed along (``local``: 3 + 3 per axis)."""
    sign: float = 1.0
    """For ``heading``: the sign of the second element (``atan2(sign·b, a)``); for ``local``: of the result."""

    def value(self, sd: Any, xp: ModuleType) -> Any:
        part = sd[..., np.asarray(self.index)]
        if self.formula == "slice":
            return part.reshape(tuple(part.shape[:-1]) + self.field.shape)
        if self.formula == "heading":  # the x axis' angle in the horizontal plane, counter-clockwise from +x
            return xp.arctan2(self.sign * part[..., 1], part[..., 0])
        if self.formula == "flag":
            return xp.where(part[..., 0] > 0, 1.0, 0.0)
        if self.formula == "norm":
            return xp.sqrt(xp.sum(xp.square(part), axis=-1))
        if self.formula == "local":  # a world-frame vector along each of the body's axes (world-frame unit vectors)
            vec, axes = part[..., :3], part[..., 3:].reshape((*part.shape[:-1], -1, 3))
            out = self.sign * xp.sum(axes * vec[..., None, :], axis=-1)
            return out.reshape(tuple(out.shape[:-1]) + self.field.shape)
        return xp.sqrt(xp.sum(xp.square(part[..., :3] - part[..., 3:]), axis=-1))


class RowReader:
    """One env's flat row of the fields from its 1-D ``sensordata``, quickly: every ``slice`` field in one gather, the
    formulas on the few elements they read (:meth:`Read.value`, the batch path, gives the same numbers)."""

    def __init__(self, reads: Sequence[Read]) -> None:
        src: list[int] = []
        dst: list[int] = []
        self.formulas: list[tuple[int, Read, np.ndarray]] = []
        pos = 0
        for r in reads:
            if r.formula == "slice":
                src += r.index
                dst += range(pos, pos + r.field.size)
            else:
                self.formulas.append((pos, r, np.asarray(r.index, dtype=np.intp)))
            pos += r.field.size
        self.size = pos
        self.src, self.dst = np.asarray(src, dtype=np.intp), np.asarray(dst, dtype=np.intp)

    def __call__(self, sd: np.ndarray) -> np.ndarray:
        out = np.empty(self.size)
        out[self.dst] = sd[self.src]
        for pos, r, idx in self.formulas:
            part = sd[idx]
            if r.formula == "heading":
                out[pos] = math.atan2(r.sign * part[1], part[0])
            elif r.formula == "flag":
                out[pos] = 1.0 if part[0] > 0 else 0.0
            elif r.formula == "norm":
                out[pos] = math.sqrt(float(part @ part))
            elif r.formula == "distance":
                out[pos] = math.dist(part[:3].tolist(), part[3:].tolist())
            else:  # local: the vector along each of the body's axes
                out[pos:pos + r.field.size] = r.sign * (part[3:].reshape(-1, 3) @ part[:3])
        return out

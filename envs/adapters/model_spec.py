"""A task's edits to its MuJoCo model before the state fields are read from it: load the MJCF as an ``MjSpec``,
delete what ``[physics] remove`` names, set the joints' ``[physics] damping``, compile — every problem one
:class:`TaskError` line that names the task file's key and the model's parts.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rewardsmith.core.errors import TaskError


def load_spec(path: Path, remove: Sequence[str] = (), damping: Mapping[str, float] | None = None) -> Any:
    """``path`` as an ``MjSpec``, with the task's removals and damping applied (not compiled yet)."""
    import mujoco

    try:
        spec = mujoco.MjSpec.from_file(str(path))
    except ValueError as exc:
        raise TaskError(f"cannot load the model {path.name}: {_one_line(exc)}") from None
    for name in remove:  # a scene's props a task does not use: DMC's quadruped ball and walls
        element = spec.body(name) or spec.geom(name)
        if element is None:
            raise TaskError(f"field 'physics.remove': the model has no body or geom named {name!r}")
        spec.delete(element)
    for name, value in (damping or {}).items():
        joint = spec.joint(name)
        if joint is None:
            raise unknown_part("joint", name, [j.name for j in spec.joints], "damping", table="physics")
        joint.damping[:] = [value, 0.0, 0.0]  # MjSpec keeps (damping, and two polynomial coefficients after it)
    return spec


def compile_spec(spec: Any, path: Path) -> Any:
    try:
        return spec.compile()
    except ValueError as exc:
        raise TaskError(f"cannot compile the model {path.name}: {_one_line(exc)}") from None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:400]


def unknown_part(what: str, name: str, known: Sequence[str], key: str, table: str = "state") -> TaskError:
    """The one line for a name the model does not have: the closest one, and the ones it has."""
    known = [k for k in known if k]
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    listed = ", ".join(known[:40]) + (" …" if len(known) > 40 else "") if known else "none"
    plural = {"body": "bodies", "body or geom": "bodies and geoms", "site, body or geom": "sites, bodies and geoms"}
    return TaskError(f"field '{table}.{key}': the model has no {what} named {name!r}{hint}; "
                     f"its {plural.get(what, what + 's')}: {listed}")

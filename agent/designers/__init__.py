"""Designers write reward code: the offline evolutionary designer, a scripted one, and LLMs.

:func:`make_designer` turns the ``--designer`` option into a designer; each says honestly what it is
(its ``label`` is printed and stored in the run).
"""

from __future__ import annotations

from pathlib import Path

from agent.designers.base import Designer, DesignRequest
from agent.errors import DesignerError

__all__ = ["DesignRequest", "Designer", "make_designer"]


def make_designer(spec: str, base_dir: Path | None = None) -> Designer:
    """``offline`` | ``scripted:DIR``."""
    if spec == "offline":
        from agent.designers.offline import OfflineDesigner

        return OfflineDesigner()
    if spec.startswith("scripted:"):
        from agent.designers.scripted import ScriptedDesigner

        path = Path(spec.split(":", 1)[1])
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        return ScriptedDesigner.from_dir(path)
    raise DesignerError(f"unknown designer {spec!r}; choose 'offline' or 'scripted:DIR'")

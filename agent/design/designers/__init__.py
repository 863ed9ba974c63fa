"""Designers write reward code: the offline evolutionary designer, a scripted one, and LLMs.

:func:`make_designer` turns the ``--designer`` option into a designer; each says honestly what it is
(its ``label`` is printed and stored in the run).
"""

from __future__ import annotations

from pathlib import Path

from rewardsmith.agent.design.designers.base import Designer, DesignRequest, FixingDesigner
from rewardsmith.agent.records.config import LLMOptions
from rewardsmith.core.extras import require_extra

__all__ = ["DesignRequest", "Designer", "FixingDesigner", "make_designer"]


def make_designer(spec: str, base_dir: Path | None = None, *, llm: LLMOptions | None = None,
                  run_dir: Path | None = None) -> Designer:
    """``offline`` | ``scripted:DIR`` | ``replay:RUN_DIR`` | a litellm model string (``openai/gpt-4o-mini``, …).

    An LLM designer keeps every answer in ``run_dir/responses`` (reused on resume); litellm itself is
    only imported when the first call is made.
    """
    if spec == "offline":
        from rewardsmith.agent.design.designers.offline import OfflineDesigner

        return OfflineDesigner()
    if spec.startswith("scripted:"):
        from rewardsmith.agent.design.designers.scripted import ScriptedDesigner

        path = Path(spec.split(":", 1)[1])
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        return ScriptedDesigner.from_dir(path)
    if not spec.startswith("replay:"):
        require_extra("llm", f"--designer {spec}", "litellm", "openai")
    from rewardsmith.agent.design.designers.llm import LLMDesigner

    if spec.startswith("replay:"):
        source = Path(spec.split(":", 1)[1])
        if base_dir is not None and not source.is_absolute():
            source = base_dir / source
        return LLMDesigner.replay(source, run_dir)
    return LLMDesigner.create(spec, llm or LLMOptions(), run_dir)

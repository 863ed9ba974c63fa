"""A designer that replays prepared responses: for tests, and for people who bring reward files.

``scripted:DIR`` takes the files in ``DIR`` in name order (``*.py`` files are wrapped in a code
block, anything else is used as the raw response) and hands them out in turn, wrapping around.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rewardsmith.agent.design.designers.base import DesignRequest
from rewardsmith.agent.records.results import Completion
from rewardsmith.core.errors import DesignerError


@dataclass
class ScriptedDesigner:
    responses: list[str]
    label: str = "scripted designer (prepared responses, no LLM)"

    @classmethod
    def from_dir(cls, path: Path) -> ScriptedDesigner:
        if not path.is_dir():
            raise DesignerError(f"scripted designer: {path} is not a directory")
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        if not files:
            raise DesignerError(f"scripted designer: {path} holds no files")
        texts = [f"```python\n{p.read_text()}\n```" if p.suffix == ".py" else p.read_text() for p in files]
        return cls(texts, f"scripted designer (files from {path}, no LLM)")

    def propose(self, request: DesignRequest) -> list[Completion]:
        start = (request.round - 1) * request.k
        return [Completion(text=self.responses[(start + i) % len(self.responses)], designer=self.label)
                for i in range(request.k)]

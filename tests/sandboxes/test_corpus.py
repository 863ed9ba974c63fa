"""The adversarial corpus: every reward in ``corpus/`` gets the verdict its header names.

Each file starts with comment lines ``# expect: <stage> <reason>`` and optionally ``# message: <text>``
(a substring of the designer-facing message) or ``# warning: <text>`` (a substring of one warning).
The probe runs under the isolation this machine offers (see ``test_isolation.py`` for the level). Every
message and warning must be safe to print: the candidate controls its exception and print text.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from rewardsmith.core.state import StateSpec
from rewardsmith.core.text import printable
from rewardsmith.envs.rollout import StateSample
from rewardsmith.sandboxes.client import SandboxLimits
from rewardsmith.sandboxes.validate import validate_source

CORPUS = Path(__file__).parent / "corpus"
# Short limits keep the hanging cases quick; generous enough for a loaded 2-core machine.
LIMITS = SandboxLimits(load_timeout_s=4.0, call_timeout_s=2.0)


@dataclass(frozen=True)
class Case:
    name: str
    source: str
    stage: str
    reason: str
    message: str | None
    warning: str | None


def _load(path: Path) -> Case:
    source = path.read_text()
    header = {}
    for line in source.splitlines():
        if not line.startswith("#"):
            break
        key, _, value = line[1:].strip().partition(":")
        header[key] = value.strip()
    stage, reason = header["expect"].split()
    return Case(path.stem, source, stage, reason, header.get("message"), header.get("warning"))


CASES = [_load(p) for p in sorted(CORPUS.glob("*.py"))]


def test_corpus_is_large_and_covers_every_verdict() -> None:
    assert len(CASES) >= 30
    # The memory-reinterpretation classes (issue 15) each have several variants.
    assert sum(c.name.startswith("numpy_ndarray") or c.name == "numpy_object_buffer_reaches_os" for c in CASES) >= 5
    assert sum(c.name.startswith("dtype_") for c in CASES) >= 10
    reasons = {c.reason for c in CASES}
    assert {"not_allowed", "syntax", "timeout", "exception", "non_finite", "bad_output", "constant", "slow",
            "nondeterministic", "ok"} <= reasons


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_corpus_verdict(case: Case, spec: StateSpec, sample: StateSample) -> None:
    report = validate_source(case.source, spec, sample.states, sample.actions, limits=LIMITS)
    assert (report.stage, report.reason) == (case.stage, case.reason), report.message
    assert report.accepted == (case.reason == "ok")
    if case.message:
        assert case.message in report.message
    if case.warning:
        assert any(case.warning in w for w in report.warnings), report.warnings
    if not report.accepted:
        assert report.message.strip()
    for text in (report.message, *report.warnings):
        assert printable(text) == text, text

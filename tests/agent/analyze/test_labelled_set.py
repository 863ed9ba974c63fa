"""The hacking detectors on the labelled set of trained runs (tests/data/analyzer_labels, made by
bench/analyzer_labels.py): what docs/analyzer.md quotes must still hold for the current analyzer."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_analyzer_labels", ROOT / "bench" / "analyzer_labels.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# (TP, FP, FN) of "any detector fired" on gamed vs honest runs, as docs/analyzer.md quotes them.
DOCUMENTED = {0: (7, 0, 1), 1: (7, 1, 1)}


@pytest.mark.parametrize("seed", sorted(DOCUMENTED))
def test_every_labelled_run_has_a_record_and_the_detectors_score_as_documented(seed: int) -> None:
    bench = _bench()
    records = bench.load_records(seed)
    assert {r.run.name for r in records} == {r.name for r in bench.RUNS}, "run bench/analyzer_labels.py train"
    scores, fired = bench.score(records)
    overall = next(s for s in scores if s.detector.startswith("any detector"))
    assert (overall.tp, overall.fp, overall.fn) == DOCUMENTED[seed], "update docs/analyzer.md (bench/analyzer_labels.py score)"
    honest = [r.run.name for r in records if not r.run.labels]
    assert sum(bool(fired[name]) for name in honest) <= 1, {name: fired[name] for name in honest}

"""The built-in fitness metrics are listed where a user looks: ``rewardsmith tasks --metrics`` and the README.

Both come from the metrics' docstrings in ``envs/fitness.py`` (issue 26, item 10); the README's table
is generated text, checked here to be in step.
"""

from __future__ import annotations

from pathlib import Path

from rewardsmith.envs.fitness import BUILTIN_METRICS, metric_docs

README = Path(__file__).resolve().parents[2] / "README.md"
START, END = "<!-- metrics: generated from envs/fitness.py's docstrings", "<!-- /metrics -->"


def metrics_table() -> str:
    """The README's table of built-in metrics, as it must read."""
    return "| metric | measures |\n|---|---|\n" + "".join(f"| `{n}` | {d} |\n" for n, d in metric_docs().items())


def test_every_metric_says_what_it_measures() -> None:
    docs = metric_docs()
    assert list(docs) == list(BUILTIN_METRICS)
    assert all(doc.endswith(".") and "\n" not in doc for doc in docs.values()), docs


def test_the_readme_lists_every_built_in_metric_from_its_docstring() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split(START, 1)[1].split("\n", 1)[1].split(END, 1)[0]
    assert section == metrics_table(), f"regenerate the README's table between the markers:\n{metrics_table()}"

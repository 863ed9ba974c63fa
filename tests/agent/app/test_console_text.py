"""What the console says to a person: help written from the config's docstrings, findings and skips in words.

Issue 26, item 8: the help printed "do not: also train", "None =" and "0.111111"; the progress lines
printed tags like ``reward_up_fitness_flat``; ``r02c04: skipped`` gave no reason.
"""

from __future__ import annotations

import argparse
import io
import re
from typing import get_args

import pytest
from rich.console import Console

from rewardsmith.agent.app.commands.bench_options import BenchOptions
from rewardsmith.agent.app.options import add_options, show_value
from rewardsmith.agent.display import ProgressView
from rewardsmith.agent.records.config import LLMOptions, RunConfig
from rewardsmith.agent.records.results import (
    Candidate,
    CandidateResult,
    Critique,
    Finding,
    FindingKind,
    ScreenVerdict,
)
from rewardsmith.agent.report.text import FINDING_WORDS, plain_finding, skip_reason
from rewardsmith.sandboxes.validate import ValidationReport


def _helps(cls: type, resume: bool = False) -> dict[str, str]:
    parser = argparse.ArgumentParser()
    add_options(parser, cls, resume=resume)
    return {a.option_strings[0]: a.help or "" for a in parser._actions if a.option_strings and a.dest != "help"}


@pytest.mark.parametrize(("cls", "resume"), [(RunConfig, False), (RunConfig, True), (LLMOptions, False),
                                             (BenchOptions, False)])
def test_help_is_written_for_a_person(cls: type, resume: bool) -> None:
    for flag, text in _helps(cls, resume).items():
        assert text, flag
        for python in ("None", "``", "do not:", "True", "False"):
            assert python not in text, f"{flag}: {text}"
        assert not re.search(r"\d\.\d{4,}", text), f"{flag}: {text}"  # no 0.111111


def test_help_names_defaults_as_people_write_them() -> None:
    helps = _helps(RunConfig)
    assert helps["--first-rung"].endswith("(default 0.25)")
    assert helps["--steps"].endswith("(default: the task file's budget on the run's backend, recorded when a run starts so "
                                       "that a resume keeps it)")
    assert helps["--call-timeout"].endswith("(default 5 s)")
    assert helps["--workers"].startswith("Training processes running at once (default: this machine's cores, here ")
    assert helps["--no-baselines"].endswith("On by default; --no-baselines turns it off")
    assert (show_value(1 / 9), show_value(0.1), show_value(2 / 7), show_value(1e-6), show_value(2592000.0)) == (
        "1/9", "0.1", "2/7", "1e-06", "2592000")


def test_every_finding_has_plain_words() -> None:
    assert set(FINDING_WORDS) == set(get_args(FindingKind))
    for kind in get_args(FindingKind):
        text = plain_finding(Finding(kind, "speed"))
        assert "_" not in text.replace("'speed'", ""), text
    assert plain_finding(Finding("reward_up_fitness_flat")) == "reward rose, fitness did not"
    assert plain_finding(Finding("dominant", "speed")) == "'speed' dominates the reward"


def _result(**kw: object) -> CandidateResult:
    return CandidateResult(candidate=Candidate(id="r02c04", round=2, index=4, code="x", origin="test"),
                           validation=ValidationReport(accepted=True, stage="probe", reason="", message=""), **kw)


def _shown(result: CandidateResult) -> str:
    out = io.StringIO()
    view = ProgressView(Console(file=out, width=300), live=False)
    view.result(result)
    return out.getvalue()


def test_progress_lines_print_findings_in_words_not_tags() -> None:
    from rewardsmith.envs.backends.records import TrainingResult
    from rewardsmith.envs.evaluation import EvaluationResult, FitnessStats

    training = TrainingResult(status="ok", error=None, reward_kind="candidate", steps_done=10, steps_planned=10,
                              wall_s=1.0, components=("speed",), checkpoints=(), policy=None)
    stats = FitnessStats.of([1.0, 2.0], (0, 1))
    evaluation = EvaluationResult(selection=stats, heldout=stats, episode_length=10.0, wall_s=1.0)
    critique = Critique(candidate_id="r02c04", status="ok", text="",
                        flags=(Finding("reward_up_fitness_flat"), Finding("dominant", "speed")))
    line = _shown(_result(training=training, evaluation=evaluation, critique=critique))
    assert "reward rose, fitness did not; 'speed' dominates the reward" in line
    assert "reward_up_fitness_flat" not in line and "dominant:speed" not in line


@pytest.mark.parametrize(("rho", "expected"), [
    (-0.4, "not trained: on 12 earlier episodes its reward prefers the ones the fitness rates worse "
           "(rank correlation -0.40)"),
    (None, "not trained: its reward gives all 12 earlier episodes the same return, so it cannot tell good from bad"),
])
def test_a_skipped_candidate_says_why(rho: float | None, expected: str) -> None:
    screen = ScreenVerdict(candidate_id="r02c04", status="skip", spearman=rho, threshold=0.0, trajectories=12,
                           sources=3, reason="…")
    assert skip_reason(screen) == expected
    line = _shown(_result(screen=screen))
    assert f"r02c04: skipped — {expected}" in line


def test_the_run_header_is_plain_text() -> None:
    out = io.StringIO()
    ProgressView(Console(file=out, width=300), live=False).header(["training settings: the built-in pendulum "
                                                                    "task's tuned [train] settings"])
    assert "tuned [train] settings" in out.getvalue()  # not swallowed as rich markup

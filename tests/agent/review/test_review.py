"""The review gate and the terminal review, on a real run paused after round 1 (``paused_run_template``)."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from rewardsmith.agent.design.candidates import check_constraints
from rewardsmith.agent.display import ProgressView
from rewardsmith.agent.loop import run_loop
from rewardsmith.agent.records.review import HumanFeedback, LockedComponent, component_form
from rewardsmith.agent.review.gate import open_session, submit_feedback
from rewardsmith.agent.review.reviewers.terminal import TerminalReviewer
from rewardsmith.agent.rundir.store import RunStore
from rewardsmith.core.errors import ReviewError, ReviewPending, RunStoreError
from tests.support.runs import copy_run


def _components(run: Path, cid: str) -> list[str]:
    index = int(cid[4:])
    rnd = int(cid[1:3])
    report = json.loads((run / f"round_{rnd:02d}" / f"cand_{index:02d}" / "validation.json").read_text())
    return list(report["components"])


class Answers:
    """Answers review questions in order, keyed by a word of the question; records every question."""

    def __init__(self, answers: list[tuple[str, str]]) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []

    def __call__(self, prompt: str) -> str:
        self.asked.append(prompt)
        if not self.answers:
            return ""
        key, answer = self.answers[0]
        if key.lower() in prompt.lower():
            self.answers.pop(0)
            return answer
        return ""


def test_terminal_review_feedback_reaches_the_next_round(paused_run_template: Path, tmp_path: Path) -> None:
    run = copy_run(paused_run_template, tmp_path)
    damping = "cart_velocity_damping"
    lock_from = next(c for c in ("r01c02", "r01c01") if damping in _components(run, c))
    answers = Answers([
        ("best", "r01c07"),   # no such candidate: asked again
        ("best", "r01c02"), ("worst", "r01c01"), ("pairwise", "r01c02>r01c01 steadier"), ("pairwise", ""),
        ("behaviour", "the cart drifts right; keep it centred"),
        ("lock", f"{lock_from}:{damping}"), ("forbid", ""),
        ("edit", "r01c02"), ("edit", "r01c02"),   # the first edit does not compile, the second does
        ("continue", "c"),
    ])
    edits = iter(["def compute_reward(state, action):\n    return (\n", None])

    original = (run / "round_01" / "cand_02" / "reward.py").read_text()

    def edit(path: Path) -> None:  # the person's second try fixes the file they broke in the first
        text = next(edits)
        path.write_text(text if text is not None else original.replace("W_POLE_ANGLE_CLOSENESS = ",
                                                                       "W_POLE_ANGLE_CLOSENESS = 2 * "))

    out = io.StringIO()
    reviewer = TerminalReviewer(Console(file=out, width=160), answers, edit)
    store = RunStore(run)
    record = store.load_record()
    record = replace(record, config=replace(record.config, review="cli", videos=False))
    view = ProgressView(Console(file=io.StringIO()))

    # Round 2 is reviewed by the same scripted reviewer; it answers nothing there.
    run_loop(store, record, view, reviewer=reviewer)

    shown = out.getvalue()
    assert "r01c01" in shown and "compute_reward" in shown and "video.mp4" in shown
    assert "no trained candidate 'r01c07'" in shown
    assert "not accepted" in shown  # the broken edit was refused with the sandbox's reason
    human = store.load_human(1)
    assert human is not None and (human.best, human.worst) == ("r01c02", "r01c01")
    assert human.pairs[0].comment == "steadier" and human.edited_from == "r01c02"
    assert [lc.name for lc in human.locked] == [damping] and "np.square" in human.locked[0].form
    feedback = json.loads((run / "round_01" / "feedback.json").read_text())
    assert feedback["source"] == "human" and feedback["best_id"] == "r01c02"
    prompt = (run / "round_02" / "cand_01" / "prompt.md").read_text()
    assert "keep it centred" in prompt and f"`{damping}`" in prompt and "Locked components" in prompt
    assert "liked r01c01 least" in prompt
    for cid in ("r02c01", "r02c02"):
        assert damping in _components(run, cid), f"{cid} dropped the locked component"
    human_cand = json.loads((run / "round_02" / "cand_03" / "candidate.json").read_text())
    assert human_cand["origin"].startswith("human") and human_cand["parent"] == "r01c02"
    assert "W_POLE_ANGLE_CLOSENESS = 2 * " in (run / "round_02" / "cand_03" / "reward.py").read_text()
    assert (run / "round_02" / "cand_03" / "fitness.json").is_file()  # trained as the round's human candidate
    assert (run / "summary.json").is_file()


def test_bad_feedback_is_refused_with_a_clear_message_and_nothing_is_lost(paused_run_template: Path,
                                                                         tmp_path: Path) -> None:
    run = copy_run(paused_run_template, tmp_path)
    session = open_session(RunStore(run))
    with pytest.raises(ReviewError, match=r"no trained candidate 'r01c09' in round 1; choose from: r01c01, r01c02"):
        submit_feedback(session, HumanFeedback(round=1, reviewer="web", best="r01c09"))
    with pytest.raises(ReviewError, match="has no such component"):
        submit_feedback(session, HumanFeedback(round=1, reviewer="web", locked=(LockedComponent("no_such_term", "r01c01"),)))
    with pytest.raises(ReviewError, match="was not accepted: the sandbox rejected it"):
        submit_feedback(session, HumanFeedback(round=1, reviewer="web", edited_from="r01c01",
                                               edited_code="import os\ndef compute_reward(state, action):\n"
                                                           "    return os.getcwd(), {}\n"))
    assert not (run / "round_01" / "human.json").exists()

    good = submit_feedback(session, HumanFeedback(round=1, reviewer="web", best="r01c01", text="fine"))
    with pytest.raises(ReviewError, match="already reviewed"):
        submit_feedback(session, HumanFeedback(round=1, reviewer="web", best="r01c02"))
    assert RunStore(run).load_human(1) == good


def test_malformed_feedback_file_names_the_file_and_is_kept(paused_run_template: Path, tmp_path: Path) -> None:
    run = copy_run(paused_run_template, tmp_path)
    path = run / "round_01" / "human.json"
    path.write_text('{"round": 1, "reviewer": "web", "best": ')
    with pytest.raises(RunStoreError, match=r"human.json: malformed review"):
        RunStore(run).load_human(1)
    assert path.read_text().startswith('{"round": 1')


def test_terminal_review_without_input_leaves_the_round_paused(paused_run_template: Path, tmp_path: Path) -> None:
    run = copy_run(paused_run_template, tmp_path)

    def no_input(prompt: str) -> str:
        raise EOFError

    reviewer = TerminalReviewer(Console(file=io.StringIO()), no_input, lambda p: None)
    with pytest.raises(ReviewPending):
        reviewer.review(open_session(RunStore(run)))
    assert not (run / "round_01" / "human.json").exists()


def test_component_form_and_constraints() -> None:
    code = ("import numpy as np\nW = 1.0\n\ndef compute_reward(state, action):\n"
            "    upright = W * np.cos(state.angle)\n    return upright, {'upright': upright, 'cost': -action[:, 0]}\n")
    assert component_form(code, "upright") == "W * np.cos(state.angle)"
    assert component_form(code, "cost") == "-action[:, 0]"
    assert component_form(code, "missing") is None
    lock = LockedComponent("upright", "r01c01", "W * np.cos(state.angle)")
    assert check_constraints(("upright", "cost"), (lock,), ()) is None
    message = check_constraints(("cost",), (lock,), ("cost",))
    assert message is not None and "`upright` = W * np.cos(state.angle)" in message and "forbade" in message

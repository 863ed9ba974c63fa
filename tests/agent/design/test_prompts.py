"""Snapshot tests of every prompt template: each renders, with a fixture context, exactly as stored.

A change to a template shows up here as a diff against ``tests/data/prompt_snapshots/``. After
reading the diff, regenerate with ``REWARDSMITH_UPDATE_SNAPSHOTS=1 pytest tests/agent/design/test_prompts.py``.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jinja2
import pytest

from rewardsmith.agent.design.prompting import (
    TEMPLATE_DIR,
    fix_messages,
    render,
    round_messages,
    task_context,
    to_markdown,
)
from rewardsmith.agent.records.critic import Contradiction, CriticFrame, CriticReport, Verdict
from rewardsmith.agent.records.results import SeriesStat
from rewardsmith.agent.records.review import LockedComponent, PairChoice
from rewardsmith.agent.train.backends import JaxBackend, SB3Backend
from rewardsmith.envs.tasks import load_task

SNAPSHOTS = Path(__file__).resolve().parents[2] / "data" / "prompt_snapshots"
UPDATE = os.environ.get("REWARDSMITH_UPDATE_SNAPSHOTS") == "1"

CODE = '''import numpy as np

W_UPRIGHT = 1.0
TEMP_UPRIGHT = 0.1


def compute_reward(state, action):
    upright = W_UPRIGHT * np.exp(-np.abs(state.pole_angel) / TEMP_UPRIGHT)
    return upright, {"upright": upright}
'''
SERIES = [SeriesStat(name="upright", samples=(0.2, 0.5, 0.81), max=0.81, mean=0.503, min=0.2),
          SeriesStat(name="task_fitness", samples=(12.0, 80.0, 212.0), max=212.0, mean=101.3, min=12.0)]


SUBTASKS = [{"id": 1, "text": "Drive the car up the right hill", "check": ""},
            {"id": 2, "text": "Reach the flag", "check": "position >= 0.45 at some step"}]
CRITIC = CriticReport(
    candidate_id="r01c01", model="openai/fake-vlm", status="ok", seed=1000000,
    frames=tuple(CriticFrame(index=i, video_frame=s, step=s, why=w, file=f"critic/frame_{i:02d}.jpg")
                 for i, (s, w) in enumerate([(0, "start"), (120, "evenly spaced"), (600, "end of the episode")])),
    kept=(Verdict(subtask=1, verdict="partly", frame=1, reason="it rocks back and forth"),),
    dropped=(Contradiction(verdict=Verdict(subtask=2, verdict="done", frame=2, reason="at the flag"),
                           state="the critic said done, but position never reached 0.45 (max -0.41 in 999 steps)"),))


def _result(fitness: float) -> SimpleNamespace:
    stats = SimpleNamespace(mean=fitness, std=fitness / 10)
    return SimpleNamespace(evaluation=SimpleNamespace(selection=stats, heldout=stats, episode_length=fitness),
                           training=SimpleNamespace(steps_done=40960))


def _cases() -> dict[str, tuple[str, dict[str, Any]]]:
    ctx = task_context(load_task("cartpole"))
    human: dict[str, Any] = {
        "round": 2, "preference_only": False, "best": "r02c01", "worst": "r02c03", "worst_code": CODE,
        "pairs": [PairChoice("r02c01", "r02c02", "it keeps the cart in the middle"), PairChoice("r02c02", "r02c03")],
        "text": "The cart drifts to the right edge before the pole falls.", "edited_from": "r02c02",
        "edited_code": CODE, "locked": [LockedComponent("upright", "r01c01", "W_UPRIGHT * np.exp(-x)")],
        "forbidden": ["alive"], "reflection": SERIES[:1],
    }
    return {
        "system": ("system.j2", {**ctx, "backend_rules": SB3Backend.prompt_rules}),
        "system_jax": ("system.j2", {**ctx, "backend_rules": JaxBackend.prompt_rules}),
        "initial": ("initial.j2", ctx),
        "feedback": ("feedback.j2", {"round": 1, "best_line": "The best one by task fitness was r01c02.",
                                     "best_critique": "## r01c02: ok\n\nTask fitness 212.",
                                     "others": ["r01c01: fitness 31.2 (constant:alive)",
                                                "r01c03: rejected (probe): line 8: AttributeError"]}),
        "feedback_none_trained": ("feedback.j2", {"round": 1, "best_line": "None of the reward functions produced a "
                                                  "trained policy.", "best_critique": "", "others": []}),
        "fix_extract": ("fix.j2", {"stage": "extract", "code": None,
                                   "message": "the response has no ```python code block; put the complete reward "
                                              "module in one fenced block"}),
        "fix_static": ("fix.j2", {"stage": "static", "code": CODE,
                                  "message": "line 7: compute_reward must take exactly two arguments: (state, action)"}),
        "fix_probe": ("fix.j2", {"stage": "probe", "code": CODE,
                                 "message": "line 8, in compute_reward: upright = W_UPRIGHT * np.exp(...)\n"
                                            "AttributeError: state has no field 'pole_angel'"}),
        "critique_ok": ("critique.md.j2", {"cid": "r01c02", "status": "ok", "reason": "", "result": _result(212.0),
                                           "series": SERIES, "shares": {"upright": 1.0}, "ending": "",
                                           "findings": ["`upright` stayed at 1 per step throughout training, so the "
                                                        "policy cannot optimise it. Suggestion: re-scale it or change "
                                                        "its temperature so it varies with the state, or drop it."]}),
        "critique_failure": ("critique.md.j2", {
            "cid": "r02c01", "status": "ok", "reason": "", "result": _result(41.0), "series": SERIES,
            "shares": {"upright": 1.0},
            "ending": "Held-out episodes: 9 of 10 ended by the environment (median step 41); 1 ran to the time limit; "
                      "fitness from 22 to 500.",
            "findings": ["9 of 10 held-out episodes were ended by the environment (median step 41); at that moment "
                         "`pole_angle` was outside its range [-0.2095, 0.2095] rad in 9 of 9 (median 0.213 rad); "
                         "`pole_angular_velocity` was 6.1× its usual magnitude in 8 of 9 (median 1.9 vs 0.31 rad/s). "
                         "Suggestion: add or strengthen a term that keeps `pole_angle` inside its healthy range.",
                         "episodes grew from 120 to 480 steps while `alive` paid a steady 1 per step (90% of the "
                         "reward) and the fitness stayed flat. Suggestion: shrink the per-step term or pay it only "
                         "with progress; make finishing worth more."]}),
        "critique_rejected": ("critique.md.j2", {"cid": "r01c03", "status": "rejected",
                                                 "reason": "rejected at the probe stage: line 8: AttributeError",
                                                 "result": SimpleNamespace(evaluation=None, training=None),
                                                 "series": [], "shares": {}, "findings": [], "ending": ""}),
        "critique_screened": ("critique.md.j2", {
            "cid": "r02c03", "status": "pending", "reason": "not trained: the pre-training screen skipped it",
            "result": SimpleNamespace(evaluation=None, training=None), "series": [], "shares": {}, "ending": "",
            "findings": ["scored with this reward, 30 stored trajectories of 6 earlier policies rank against their "
                         "fitness (Spearman -0.42 < +0.00), so it was not trained. Suggestion: make the reward rank "
                         "the earlier trajectories as their fitness does."]}),
        "critique_critic": ("critique.md.j2", {
            "cid": "r01c01", "status": "ok", "reason": "", "result": _result(0.2), "series": [], "shares": {},
            "ending": "", "findings": [], "subtasks": SUBTASKS, "critic": CRITIC,
            "critic_verdicts": [{"id": 1, "text": "Drive the car up the right hill", "verdict": "partly",
                                 "where": "frame 1, step 120", "reason": "it rocks back and forth", "checked": False}]}),
        "critique_critic_failed": ("critique.md.j2", {
            "cid": "r01c01", "status": "ok", "reason": "", "result": _result(0.2), "series": [], "shares": {},
            "ending": "", "findings": [], "subtasks": SUBTASKS, "critic_verdicts": [],
            "critic": replace(CRITIC, status="failed", kept=(), dropped=(),
                              error="critic openai/fake-vlm: Timeout: no complete answer within 2 s")}),
        "critic_system": ("critic_system.j2", {}),
        "critic": ("critic.j2", {"description": "Drive the car up the right hill and reach the flag.",
                                 "env_id": "MountainCarContinuous-v0", "seed": 1000000, "steps": 999,
                                 "ending": "ran to the time limit (the video shows its first 600 steps)",
                                 "frames": CRITIC.frames, "subtasks": [{"id": 1, "text": "Drive the car up the right hill"},
                                                                      {"id": 2, "text": "Reach the flag"}]}),
        "parents": ("parents.j2", {"policy": "tree", "used": 180, "budget": 1500, "blocks": [
            {"id": "r01c03", "fitness": "fitness 0.61", "why": "UCB 1.02 (fitness 0.61, 0 children)",
             "code": "W_UP = 1.0\n\n\ndef compute_reward(state, action):\n    up = W_UP * state.height\n    return up, {\"up\": up}",
             "critique": "## r01c03: ok\n\nTask fitness 0.61."}]}),
        "human_feedback": ("human_feedback.j2", human),
        "human_feedback_preferences_only": ("human_feedback.j2", {**human, "preference_only": True, "worst": None,
                                                                  "pairs": [], "edited_from": None, "locked": [],
                                                                  "forbidden": []}),
    }


def _check(name: str, text: str) -> None:
    path = SNAPSHOTS / f"{name}.txt"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"no snapshot {path}; create it with REWARDSMITH_UPDATE_SNAPSHOTS=1"
    assert text == path.read_text(encoding="utf-8"), f"{name} changed; review the diff, then update the snapshot"


@pytest.mark.parametrize("name", sorted(_cases()))
def test_template_renders_as_its_snapshot(name: str) -> None:
    template, context = _cases()[name]
    _check(name, render(template, **context))


def test_every_template_has_a_snapshot_case() -> None:
    covered = {template for template, _ in _cases().values()}
    assert {p.name for p in TEMPLATE_DIR.glob("*.j2")} == covered


def test_round_and_fix_conversations_as_sent() -> None:
    task = load_task("cartpole")
    first = round_messages(task, None, None)
    later = round_messages(task, CODE, "We trained one policy with each of the reward functions of round 1.")
    fix = fix_messages(first, f"```python\n{CODE}```", "probe", "line 8, in compute_reward: AttributeError", CODE)
    assert [m.role for m in first] == ["system", "user"]
    assert [m.role for m in later] == ["system", "user", "assistant", "user"]
    assert [m.role for m in fix] == ["system", "user", "assistant", "user"]
    _check("conversation_round2", to_markdown(later))
    _check("conversation_fix", to_markdown(fix))


def test_a_missing_variable_is_an_error_not_an_empty_string() -> None:
    with pytest.raises(jinja2.UndefinedError):
        render("fix.j2", stage="probe", message="x")  # no ``code``

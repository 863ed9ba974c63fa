"""The critic on a real recorded run (CartPole videos and episodes of ``paused_run_template``), against the fake server.

What a provider receives (the frames as ``image_url`` data URLs, bounded in number and size), the gate dropping
planted claims that the recorded state contradicts, the next round's prompt carrying only the surviving verdicts,
answers kept so a second judgement never pays again, and a dead, slow or capped critic that never stalls a round.
"""

from __future__ import annotations

import base64
import io
import socket
import time
from pathlib import Path

from PIL import Image

from rewardsmith.agent.analyze.critic import FRAME_SIDE
from rewardsmith.agent.analyze.critique import critique
from rewardsmith.agent.goal.task_goal import task_goal
from rewardsmith.agent.next_round import design_request
from rewardsmith.agent.review.feedback import automatic_feedback
from rewardsmith.agent.rundir.store import RunStore
from rewardsmith.envs.tasks import load_task
from tests.support.critic import (
    DROP_DONE,
    DROP_NOT,
    KEEP,
    MODEL,
    critic_for,
    judge_round,
    serve_planted,
    subtasks_for,
)
from tests.support.fake_llm import FakeLLM, Reply, ok
from tests.support.runs import copy_run


def test_frames_arrive_as_image_parts_and_the_gate_drops_the_planted_claims(
        paused_run_template: Path, tmp_path: Path, fake_llm: FakeLLM) -> None:
    run = copy_run(paused_run_template, tmp_path)
    serve_planted(fake_llm)
    judged = judge_round(run, critic_for(RunStore(run), fake_llm.url, critic_frames=4))
    assert len(judged) == 2 and len(fake_llm.calls(MODEL)) == 2
    for (result, report), request in zip(judged, fake_llm.calls(MODEL), strict=True):
        assert report.status == "ok", report.error
        # what the provider received: text, then one image_url part per frame, each a JPEG data URL of the file kept
        user = request.body["messages"][1]["content"]
        assert [p["type"] for p in user] == ["text"] + ["image_url"] * len(report.frames)
        assert 2 <= len(report.frames) <= 4 and len(request.images) == len(report.frames)
        folder = RunStore(run).files_of(result.candidate).dir
        for url, frame in zip(request.images, report.frames, strict=True):
            assert url.startswith("data:image/jpeg;base64,")
            data = base64.b64decode(url.split(",", 1)[1])
            assert data == (folder / frame.file).read_bytes() and data[:2] == b"\xff\xd8"
            assert max(Image.open(io.BytesIO(data)).size) <= FRAME_SIDE
        assert "The cart stays on the track" in request.text and f"step {report.frames[-1].step}" in request.text
        assert report.image_bytes == sum(len((folder / f.file).read_bytes()) for f in report.frames)
        assert report.usage.tokens_in >= 85 * len(report.frames) and report.usage.calls == 1
        # the gate: the free verdict stays, both planted contradictions go, each with what the state says
        assert [(v.subtask, v.reason) for v in report.kept] == [(1, KEEP)]
        assert {c.verdict.subtask: c.verdict.reason for c in report.dropped} == {2: DROP_NOT, 3: DROP_DONE}
        states = {c.verdict.subtask: c.state for c in report.dropped}
        assert "stayed <= 100 at all" in states[2] and "never reached 5" in states[3]
        assert RunStore(run).load_critic(result.candidate) == report


def test_the_next_prompt_carries_the_surviving_verdicts_only(paused_run_template: Path, tmp_path: Path,
                                                              fake_llm: FakeLLM) -> None:
    run = copy_run(paused_run_template, tmp_path)
    serve_planted(fake_llm)
    store = RunStore(run)
    task = load_task(store.load_record().config.task)
    results = []
    for result, report in judge_round(run, critic_for(store, fake_llm.url)):
        crit = critique(result, task_goal(task).spec, None, subtasks_for(run), report)
        results.append(result.__class__(**{**result.__dict__, "critique": crit}))
    feedback = automatic_feedback(1, results, None)
    request, _ = design_request(task, store, store.load_record().config, 2, results, feedback)
    prompt = request.messages[-1].content
    assert KEEP in prompt and "The critic's verdicts" in prompt and "dropped: 2 here" in prompt
    assert DROP_NOT not in prompt and DROP_DONE not in prompt


def test_a_second_judgement_never_pays_again(paused_run_template: Path, tmp_path: Path, fake_llm: FakeLLM) -> None:
    run = copy_run(paused_run_template, tmp_path)
    serve_planted(fake_llm)
    first = judge_round(run, critic_for(RunStore(run), fake_llm.url))
    assert judge_round(run, critic_for(RunStore(run), fake_llm.url)) == first  # critic.json is read back
    for result, _ in first:
        RunStore(run).files_of(result.candidate).critic.unlink()
    again = judge_round(run, critic_for(RunStore(run), fake_llm.url))  # the same frames: the stored answers
    assert [r for _, r in again] == [r for _, r in first] and len(fake_llm.calls(MODEL)) == 2


def _closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


def test_a_dead_critic_costs_one_line_and_the_round_goes_on(paused_run_template: Path, tmp_path: Path) -> None:
    run = copy_run(paused_run_template, tmp_path)
    started = time.monotonic()
    judged = judge_round(run, critic_for(RunStore(run), _closed_port()))
    assert time.monotonic() - started < 10
    (_, first), (_, second) = judged
    assert first.status == "failed" and first.error is not None and "\n" not in first.error
    assert first.error.startswith(f"critic openai/{MODEL}: connection refused") and first.kept == ()
    assert second.status == "skipped" and second.error == f"not asked: {first.error}" and second.frames == ()


def test_a_slow_critic_times_out_and_the_other_candidates_go_without_it(paused_run_template: Path, tmp_path: Path,
                                                                         fake_llm: FakeLLM) -> None:
    run = copy_run(paused_run_template, tmp_path)
    fake_llm.script(MODEL, Reply(texts=("{}",), delay_s=30))
    started = time.monotonic()
    judged = judge_round(run, critic_for(RunStore(run), fake_llm.url, critic_timeout_s=0.5))
    assert time.monotonic() - started < 6  # two attempts of 0.5 s and one backoff, not 30 s per candidate
    (_, first), (_, second) = judged
    assert first.status == "failed" and "Timeout" in (first.error or "") and "gave up after 2 attempts" in (first.error or "")
    assert second.status == "skipped" and len(fake_llm.calls(MODEL)) == 2  # the first candidate's two attempts only


def test_a_malformed_answer_is_recorded_not_raised(paused_run_template: Path, tmp_path: Path, fake_llm: FakeLLM) -> None:
    run = copy_run(paused_run_template, tmp_path)
    fake_llm.script(MODEL, ok("The policy looks great!\x1b[2J Everything is done."))
    (_, first), (_, second) = judge_round(run, critic_for(RunStore(run), fake_llm.url))
    assert first.status == "failed" and "not the JSON object asked for" in (first.error or "")
    assert "\x1b" not in (first.error or "") and second.status == "failed"  # an answer came: the next one is asked


def test_the_token_cap_stops_the_critic_not_the_run(paused_run_template: Path, tmp_path: Path,
                                                      fake_llm: FakeLLM) -> None:
    run = copy_run(paused_run_template, tmp_path)
    serve_planted(fake_llm)
    (_, first), (_, second) = judge_round(run, critic_for(RunStore(run), fake_llm.url, critic_max_tokens=50))
    assert first.status == "ok" and first.usage.tokens > 50
    assert second.status == "failed" and "token cap reached" in (second.error or "")
    assert len(fake_llm.calls(MODEL)) == 1

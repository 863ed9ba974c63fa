"""The candidate page shows the task's subtasks and the critic's verdicts beside the video (issue 25)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rewardsmith.agent.analyze.critique import critique
from rewardsmith.agent.goal.task_goal import task_goal
from rewardsmith.agent.rundir.store import RunStore
from rewardsmith.envs.tasks import load_task
from tests.support.critic import DROP_DONE, KEEP, critic_for, judge_round, serve_planted, subtasks_for
from tests.support.fake_llm import FakeLLM
from tests.support.runs import copy_run
from tests.support.web import client_for


def test_the_candidate_page_shows_subtasks_and_verdicts_beside_the_video(paused_run_template: Path, tmp_path: Path,
                                                                        fake_llm: FakeLLM) -> None:
    run = copy_run(paused_run_template, tmp_path)
    serve_planted(fake_llm)
    store = RunStore(run)
    goal = task_goal(load_task(store.load_record().config.task)).spec
    (result, report), (other, _) = judge_round(run, critic_for(store, fake_llm.url))
    store.save_critique(result.candidate, critique(result, goal, None, subtasks_for(run), report))
    store.files_of(other.candidate).critic.unlink()  # judged by no critic: its subtasks alone
    store.save_critique(other.candidate, critique(other, goal, None, subtasks_for(run), None))
    client = client_for(tmp_path)

    page = client.get(f"/runs/{run.name}/candidates/{result.candidate.id}").text
    beside = page[page.index('<div class="beside">'):page.index("<h2>Code</h2>")]
    assert "<video" in beside and 'id="subtasks"' in beside and beside.count('class="subtask"') == 3
    assert KEEP in beside and "dropped: the critic said done, but" in beside and DROP_DONE in beside
    assert f"openai/fake-vlm watched {len(report.frames)} frames" in beside
    frame = f"/runs/{run.name}/candidates/{result.candidate.id}/critic/1.jpg"
    assert f'src="{frame}"' in beside
    got = client.get(frame)
    assert got.status_code == 200 and got.headers["content-type"] == "image/jpeg" and got.content[:2] == b"\xff\xd8"
    assert client.get(f"/runs/{run.name}/candidates/{result.candidate.id}/critic/99.jpg").status_code == 404

    plain = client.get(f"/runs/{run.name}/candidates/{other.candidate.id}").text
    assert plain.count('class="subtask"') == 3 and "critic-note" not in plain and "no verdict" not in plain


def test_a_hostile_reason_is_shown_as_text(paused_run_template: Path, tmp_path: Path, fake_llm: FakeLLM) -> None:
    run = copy_run(paused_run_template, tmp_path)
    serve_planted(fake_llm)
    store = RunStore(run)
    (result, report), _ = judge_round(run, critic_for(store, fake_llm.url))
    hostile = replace(report.kept[0], reason='<script>alert(1)</script><img src="https://evil.example/x">')
    store.save_critic(result.candidate, replace(report, kept=(hostile,)))
    page = client_for(tmp_path).get(f"/runs/{run.name}/candidates/{result.candidate.id}").text
    assert "<script>alert(1)" not in page and "&lt;script&gt;" in page and 'src="https://evil' not in page

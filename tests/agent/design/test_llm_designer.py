"""The LLM designer and the fix-retry stage, driven through litellm against the scripted server.

Realistic responses from ``tests/data/llm_responses/`` go through the real path: HTTP → litellm →
extraction → sandbox validation → (when rejected) the exact, line-numbered problem back to the model.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from rewardsmith.agent.design import candidates
from rewardsmith.agent.design.designers import DesignRequest, FixingDesigner, make_designer
from rewardsmith.agent.design.designers.llm import LLMDesigner
from rewardsmith.agent.design.designers.offline import OfflineDesigner
from rewardsmith.agent.design.designers.scripted import ScriptedDesigner
from rewardsmith.agent.design.llm.client import RetryPolicy
from rewardsmith.agent.design.prompting import round_messages
from rewardsmith.agent.records.config import LLMOptions
from rewardsmith.agent.records.results import Candidate
from rewardsmith.agent.rundir.store import RunStore
from rewardsmith.core.errors import DesignerUnavailable
from rewardsmith.envs.rollout import StateSample, random_rollout
from rewardsmith.envs.tasks import Task, load_task
from tests.support.fake_llm import FakeLLM, ok

CORPUS = Path(__file__).resolve().parents[2] / "data" / "llm_responses"


def text(name: str) -> str:
    return (CORPUS / f"{name}.md").read_text()


@pytest.fixture(scope="module")
def cartpole() -> tuple[Task, StateSample]:
    task = load_task("cartpole")
    return task, random_rollout(task, n=256, seed=0)


def designer_for(server: FakeLLM, run_dir: Path) -> LLMDesigner:
    options = LLMOptions(api_base=server.url, timeout_s=10.0)
    return LLMDesigner.create("openai/coder", options, run_dir, RetryPolicy(max_attempts=2, backoff_s=0.01))


def request_for(task: Task, k: int, rnd: int = 1) -> DesignRequest:
    return DesignRequest(task=task, round=rnd, k=k, seed=0, messages=tuple(round_messages(task, None, None)), history=())


def sample_and_validate(designer: LLMDesigner, task: Task, sample: StateSample, store: RunStore, k: int,
                        max_fixes: int) -> list[tuple[Candidate, str, str]]:
    request = request_for(task, k)
    out = []
    for cand in candidates.sample_round(designer, request, store):
        cand, report = candidates.validate_and_fix(designer, request, cand, candidates.Validation(
            task=task, sample=sample, store=store, max_fixes=max_fixes))
        out.append((cand, report.stage if not report.accepted else "accepted", report.reason))
    return out


# -- the corpus of realistic answers, through the whole path ---------------------------------------------------
@pytest.mark.parametrize(("name", "verdict", "reason"), [
    ("good_upright", "accepted", "ok"),
    ("several_blocks", "accepted", "ok"),          # helper and constants in other blocks are carried over
    ("helpers_after", "accepted", "ok"),           # a helper defined after compute_reward
    ("missing_compute_reward", "extract", "no_function"),
    ("wrong_signature", "static", "not_allowed"),  # compute_reward(obs, action, next_obs, terminated)
    ("truncated", "extract", "syntax"),            # cut off at max tokens
    ("refusal", "extract", "no_code"),
    ("runtime_error", "probe", "exception"),       # state.pole_angel
])
def test_realistic_answers_get_the_right_verdict(fake_llm: FakeLLM, tmp_path: Path, cartpole: tuple[Task, StateSample],
                                                 name: str, verdict: str, reason: str) -> None:
    task, sample = cartpole
    fake_llm.script("coder", ok(text(name)))
    store = RunStore(tmp_path)
    ((cand, got, why),) = sample_and_validate(designer_for(fake_llm, tmp_path), task, sample, store, 1, max_fixes=0)
    assert (got, why) == (verdict, reason)
    assert (store.files(1, 1).dir / "response.md").read_text() == text(name)
    assert cand.usage.tokens_out > 0 and cand.origin == "openai/coder"


def test_empty_answer_is_rejected_as_data(fake_llm: FakeLLM, tmp_path: Path, cartpole: tuple[Task, StateSample]) -> None:
    task, sample = cartpole
    fake_llm.script("coder", ok(""))
    ((_, got, why),) = sample_and_validate(designer_for(fake_llm, tmp_path), task, sample, RunStore(tmp_path), 1, 0)
    assert (got, why) == ("extract", "empty")


# -- fix-retry ---------------------------------------------------------------------------------------------------
def test_a_broken_first_answer_is_fixed_by_the_second(fake_llm: FakeLLM, tmp_path: Path,
                                                      cartpole: tuple[Task, StateSample]) -> None:
    task, sample = cartpole
    fake_llm.script("coder", ok(text("truncated")), ok(text("good_upright")))
    store = RunStore(tmp_path)
    ((cand, verdict, _),) = sample_and_validate(designer_for(fake_llm, tmp_path), task, sample, store, 1, max_fixes=2)
    assert verdict == "accepted" and cand.attempts == 2
    assert len(fake_llm.requests) == 2
    d = store.files(1, 1).dir
    first = json.loads((d / "attempt_1" / "validation.json").read_text())
    assert first["accepted"] is False and first["reason"] == "syntax"
    assert (d / "attempt_1" / "response.md").read_text() == text("truncated")
    assert json.loads((d / "attempt_2" / "validation.json").read_text())["accepted"] is True
    assert (d / "reward.py").read_text() == (d / "attempt_2" / "reward.py").read_text()
    # the fix request: the round's prompt, the broken answer, then the exact problem
    sent = fake_llm.requests[1].body["messages"]
    assert sent[-2] == {"role": "assistant", "content": text("truncated")}
    assert first["message"] in sent[-1]["content"]
    assert [m["content"] for m in sent[:-2]] == [m["content"] for m in fake_llm.requests[0].body["messages"]]
    assert cand.usage.calls == 2, "usage covers every attempt"


def test_fix_retry_is_bounded_and_shows_line_numbers(fake_llm: FakeLLM, tmp_path: Path,
                                                     cartpole: tuple[Task, StateSample]) -> None:
    task, sample = cartpole
    fake_llm.script("coder", ok(text("runtime_error")))
    store = RunStore(tmp_path)
    ((cand, verdict, reason),) = sample_and_validate(designer_for(fake_llm, tmp_path), task, sample, store, 1,
                                                     max_fixes=2)
    assert (verdict, reason, cand.attempts) == ("probe", "exception", 3)
    assert len(fake_llm.requests) == 3
    assert sorted(p.name for p in store.files(1, 1).dir.glob("attempt_*")) == ["attempt_1", "attempt_2", "attempt_3"]
    problem = fake_llm.requests[1].body["messages"][-1]["content"]
    assert "line 8" in problem and "pole_angel" in problem
    assert "  8 |     upright = W_UPRIGHT * np.exp(-np.abs(state.pole_angel) / TEMP_UPRIGHT)" in problem


def test_fixes_resume_from_the_store_without_new_calls(fake_llm: FakeLLM, tmp_path: Path,
                                                       cartpole: tuple[Task, StateSample]) -> None:
    task, sample = cartpole
    fake_llm.script("coder", ok(text("missing_compute_reward")), ok(text("good_alive")))
    store = RunStore(tmp_path)
    sample_and_validate(designer_for(fake_llm, tmp_path), task, sample, store, 1, max_fixes=1)
    sent = len(fake_llm.requests)
    # the process died before the fix was validated: validation.json of attempt 2 is gone
    (store.files(1, 1).dir / "validation.json").unlink()
    first = json.loads((store.files(1, 1).dir / "candidate.json").read_text())
    ((cand, verdict, _),) = sample_and_validate(designer_for(fake_llm, tmp_path), task, sample, store, 1, max_fixes=1)
    assert verdict == "accepted" and cand.attempts == first["attempts"] == 2
    assert len(fake_llm.requests) == sent


def test_only_fixing_designers_get_candidates_back(tmp_path: Path, cartpole: tuple[Task, StateSample]) -> None:
    task, sample = cartpole
    assert isinstance(make_designer("openai/coder"), FixingDesigner)
    assert not isinstance(OfflineDesigner(), FixingDesigner)
    scripted = ScriptedDesigner([text("wrong_signature")])
    assert not isinstance(scripted, FixingDesigner)
    store = RunStore(tmp_path)
    request = request_for(task, 1)
    (cand,) = candidates.sample_round(scripted, request, store)
    cand, report = candidates.validate_and_fix(scripted, request, cand, candidates.Validation(
        task=task, sample=sample, store=store, max_fixes=3))
    assert not report.accepted and cand.attempts == 1 and not list(store.files(1, 1).dir.glob("attempt_*"))


def test_a_reviewers_edit_is_not_sent_to_the_model(fake_llm: FakeLLM, tmp_path: Path,
                                                   cartpole: tuple[Task, StateSample]) -> None:
    task, sample = cartpole
    store = RunStore(tmp_path)
    human = Candidate(id="r01c02", round=1, index=2, code="def compute_reward(state, action):\n    return 1\n", origin="human (edit)")
    store.save_sampled(human, "(reviewer)", f"```python\n{human.code}```\n")
    cand, report = candidates.validate_and_fix(designer_for(fake_llm, tmp_path), request_for(task, 1), human,
                                           candidates.Validation(task=task, sample=sample, store=store, max_fixes=2))
    assert not report.accepted and cand.attempts == 1 and fake_llm.requests == []


# -- rounds where the model cannot be reached ----------------------------------------------------------------
def test_a_round_where_every_call_fails_raises_designer_unavailable(fake_llm: FakeLLM, tmp_path: Path,
                                                                   cartpole: tuple[Task, StateSample]) -> None:
    from tests.support.fake_llm import error

    task, _ = cartpole
    fake_llm.script("coder", error(500, "down"))
    with pytest.raises(DesignerUnavailable, match=r"round 1: every call to the model failed; last error: .*500"):
        designer_for(fake_llm, tmp_path).propose(request_for(task, 2))


def test_a_failed_fix_call_leaves_the_candidate_rejected(fake_llm: FakeLLM, tmp_path: Path,
                                                         cartpole: tuple[Task, StateSample]) -> None:
    from tests.support.fake_llm import error

    task, sample = cartpole
    fake_llm.script("coder", ok(text("refusal")), error(503, "busy"))
    store = RunStore(tmp_path)
    ((cand, verdict, _),) = sample_and_validate(designer_for(fake_llm, tmp_path), task, sample, store, 1, max_fixes=2)
    assert verdict == "extract" and cand.attempts == 1
    assert len(fake_llm.requests) == 3  # the sample, then one fix call tried twice


def test_replay_designer_reuses_another_runs_answers(fake_llm: FakeLLM, tmp_path: Path,
                                                     cartpole: tuple[Task, StateSample]) -> None:
    from rewardsmith.agent.records.config import RunConfig, RunRecord
    from rewardsmith.core.atomic import write_json

    task, _ = cartpole
    fake_llm.script("coder", ok(text("good_upright"), text("good_alive")))
    first = tmp_path / "first"
    config = RunConfig(task="cartpole", designer="openai/coder", llm=LLMOptions(api_base=fake_llm.url))
    write_json(first / "config.json", RunRecord(config=config, task_name="cartpole", designer_label="LLM", sandbox="", created="", version=""))
    recorded = [c.text for c in designer_for(fake_llm, first).propose(request_for(task, 2))]
    replay = make_designer(f"replay:{first}", run_dir=tmp_path / "second")
    assert "replayed from" in replay.label
    assert [c.text for c in replay.propose(request_for(task, 2))] == recorded
    assert len(fake_llm.requests) == 1
    assert len(list((tmp_path / "second" / "responses").iterdir())) == 1, "the replay keeps its own copy"
    changed = replace(request_for(task, 2), round=2)
    with pytest.raises(Exception, match="no recorded response"):
        replay.propose(changed)

"""The LLM client through litellm itself, against the scripted server on 127.0.0.1 (no network, ever).

Every fault the issue lists has a test here that fails if the behaviour regresses: ``n`` honoured,
ignored and rejected, 429 with ``Retry-After``, 5xx, a hang past the timeout, malformed JSON, empty
content, a refusal, credentials refused (without leaking the key), unknown model, budget caps,
and the response store that makes a repeated request free.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rewardsmith.agent.design.llm.client import MAX_ANSWER_BYTES, CallFailed, LLMClient, RetryPolicy, import_litellm
from rewardsmith.agent.design.llm.errors import redact, retry_after_s
from rewardsmith.agent.design.llm.responses import ResponseStore
from rewardsmith.agent.design.prompting import Message
from rewardsmith.agent.records.config import LLMOptions
from rewardsmith.core.errors import BudgetExhausted, DesignerError
from tests.support.fake_llm import FakeLLM, Reply, error, ok

MESSAGES = (Message("system", "You write reward functions."), Message("user", "Write one for CartPole."))
SECRET = "sk-test-SECRET-0123456789abcdef"


def make_client(server: FakeLLM, tmp_path: Path, model: str = "coder", attempts: int = 3,
                **options: object) -> tuple[LLMClient, list[float]]:
    """A client for ``openai/<model>`` at the fake server; it records its backoff waits instead of sleeping."""
    sleeps: list[float] = []
    opts = LLMOptions(**{"api_base": server.url, "timeout_s": 5.0, **options})  # type: ignore[arg-type]
    client = LLMClient(f"openai/{model}", opts, ResponseStore(tmp_path / "responses"),
                       RetryPolicy(max_attempts=attempts, backoff_s=0.01, backoff_cap_s=60.0), sleep=sleeps.append)
    return client, sleeps


# -- K samples: n honoured, ignored, rejected -----------------------------------------------------------
def test_n_honoured_takes_one_call(fake_llm: FakeLLM, tmp_path: Path) -> None:
    fake_llm.script("coder", ok("a", "b", "c"))
    client, _ = make_client(fake_llm, tmp_path)
    replies = client.sample(MESSAGES, 3, "round 1")
    assert [r.text for r in replies] == ["a", "b", "c"]
    assert [r.n for r in fake_llm.requests] == [3]
    assert {r.path for r in replies} == {"n"}
    (call,) = client.store.calls() if client.store else []
    assert sum(r.usage.tokens_out for r in replies) == call.usage.tokens_out > 0, "the call's usage is shared out"


def test_n_ignored_is_topped_up_with_single_calls(fake_llm: FakeLLM, tmp_path: Path) -> None:
    fake_llm.script("coder", ok("only one", honour_n=False))
    client, _ = make_client(fake_llm, tmp_path)
    replies = client.sample(MESSAGES, 3, "round 1")
    assert len(replies) == 3
    assert [r.n for r in fake_llm.requests] == [3, 1, 1]
    assert [r.path for r in replies] == ["n", "single", "single"]
    assert all("n" not in r.body for r in fake_llm.requests[1:])


def test_n_rejected_falls_back_to_single_calls(fake_llm: FakeLLM, tmp_path: Path) -> None:
    fake_llm.script("coder", Reply(texts=("x",), reject_n=True))  # llama.cpp's server: 400 for n > 1
    client, _ = make_client(fake_llm, tmp_path)
    assert len(client.sample(MESSAGES, 2, "round 1")) == 2
    assert [r.n for r in fake_llm.requests] == [2, 1, 1]
    assert client.n_supported is False
    assert len(client.sample(MESSAGES, 2, "round 2")) == 2
    assert [r.n for r in fake_llm.requests[3:]] == [1, 1], "once rejected, n is not asked for again"


def test_top_up_runs_calls_concurrently(fake_llm: FakeLLM, tmp_path: Path) -> None:
    fake_llm.script("coder", Reply(texts=("x",), honour_n=False, delay_s=0.6))
    client, _ = make_client(fake_llm, tmp_path)
    started = time.monotonic()
    assert len(client.sample(MESSAGES, 4, "round 1")) == 4
    # one n call, then 3 single calls at once: about 2 × 0.6 s; one after the other would take 4 × 0.6 s
    assert time.monotonic() - started < 2.2


# -- transient errors: retried with backoff, Retry-After honoured, bounded ---------------------------------
def test_429_waits_as_long_as_retry_after_says(fake_llm: FakeLLM, tmp_path: Path) -> None:
    fake_llm.script("coder", error(429, "Rate limit reached", retry_after="7"), ok("after the wait"))
    client, sleeps = make_client(fake_llm, tmp_path)
    assert [r.text for r in client.sample(MESSAGES, 1, "round 1")] == ["after the wait"]
    assert sleeps == [7.0]
    assert len(fake_llm.requests) == 2


def test_retry_after_beyond_the_cap_gives_the_call_up(fake_llm: FakeLLM, tmp_path: Path) -> None:
    fake_llm.script("coder", error(429, "Rate limit reached", retry_after="3600"))
    client, sleeps = make_client(fake_llm, tmp_path)
    with pytest.raises(CallFailed, match=r"asked to wait 3600 s, more than the 60 s cap"):
        client.sample(MESSAGES, 1, "round 1")
    assert sleeps == [] and len(fake_llm.requests) == 1


def test_5xx_is_retried_with_growing_jittered_backoff(fake_llm: FakeLLM, tmp_path: Path) -> None:
    fake_llm.script("coder", error(500, "boom"), error(502, "bad gateway"), ok("third time"))
    client, sleeps = make_client(fake_llm, tmp_path)
    assert client.sample(MESSAGES, 1, "round 1")[0].text == "third time"
    assert len(fake_llm.requests) == 3
    assert 0.005 <= sleeps[0] <= 0.01 and 0.01 <= sleeps[1] <= 0.02


def test_a_dead_server_is_given_up_after_bounded_attempts(fake_llm: FakeLLM, tmp_path: Path) -> None:
    fake_llm.script("coder", error(503, "overloaded"))
    client, _ = make_client(fake_llm, tmp_path, attempts=3)
    with pytest.raises(CallFailed) as failed:
        client.sample(MESSAGES, 4, "round 1")
    # the n call (3 attempts), then one single call to probe (3 attempts): not 4 more calls of 3 attempts
    assert len(fake_llm.requests) == 6
    assert "openai/coder" in failed.value.message and "gave up after 3 attempts" in failed.value.message
    assert "\n" not in failed.value.message


def test_a_hang_past_the_timeout_is_cut_and_retried(fake_llm: FakeLLM, tmp_path: Path) -> None:
    fake_llm.script("coder", Reply(texts=("too late",), delay_s=30))
    client, _ = make_client(fake_llm, tmp_path, attempts=2, timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(CallFailed, match="Timeout"):
        client.sample(MESSAGES, 1, "round 1")
    assert time.monotonic() - started < 5
    assert len(fake_llm.requests) == 2


def test_a_trickling_server_is_cut_at_the_whole_call_deadline(fake_llm: FakeLLM, tmp_path: Path) -> None:
    # One byte every 0.2 s: no single read waits as long as the 1 s timeout, so only a deadline on the
    # whole call ends it (the body of ~300 bytes would take a minute per attempt).
    fake_llm.script("coder", Reply(texts=("slowly",), trickle_s=0.2))
    client, _ = make_client(fake_llm, tmp_path, attempts=2, timeout_s=1.0)
    import_litellm()  # seconds, once per process: not part of the call
    started = time.monotonic()
    with pytest.raises(CallFailed, match=r"Timeout: no complete answer within the 1 s deadline .*2 attempts"):
        client.sample(MESSAGES, 1, "round 1")
    assert time.monotonic() - started < 2 * 1.0 + 1.5, "two attempts of at most 1 s each, and the backoff"
    assert len(fake_llm.requests) == 2


def test_malformed_json_is_retried(fake_llm: FakeLLM, tmp_path: Path) -> None:
    fake_llm.script("coder", Reply(body='{"choices": [ not json'), ok("well-formed"))
    client, _ = make_client(fake_llm, tmp_path)
    assert client.sample(MESSAGES, 1, "round 1")[0].text == "well-formed"
    assert len(fake_llm.requests) == 2


# -- answers without code are data, not errors -------------------------------------------------------------
def test_empty_content_is_an_empty_answer(fake_llm: FakeLLM, tmp_path: Path) -> None:
    fake_llm.script("coder", ok(""))
    client, _ = make_client(fake_llm, tmp_path)
    assert [r.text for r in client.sample(MESSAGES, 1, "round 1")] == [""]


def test_a_refusal_comes_back_as_its_text(fake_llm: FakeLLM, tmp_path: Path) -> None:
    fake_llm.script("coder", Reply(refusal="I'm sorry, I can't help with that."))
    client, _ = make_client(fake_llm, tmp_path)
    assert client.sample(MESSAGES, 1, "round 1")[0].text == "I'm sorry, I can't help with that."


def test_answers_without_choices_count_as_a_failed_call(fake_llm: FakeLLM, tmp_path: Path) -> None:
    fake_llm.script("coder", Reply(body=json.dumps({"id": "x", "object": "chat.completion", "created": 0,
                                                    "model": "coder", "choices": []})))
    client, _ = make_client(fake_llm, tmp_path)
    with pytest.raises(CallFailed, match="no choices"):
        client.sample(MESSAGES, 2, "round 1")
    assert [r.n for r in fake_llm.requests] == [2, 1, 1], "the n call, one top-up batch, then it stops"


def test_answers_are_capped_in_count_and_size(fake_llm: FakeLLM, tmp_path: Path) -> None:
    huge = "é" * (2 * MAX_ANSWER_BYTES)  # 4 × the limit in UTF-8 bytes
    fake_llm.script("coder", Reply(texts=(huge,), choices=6))  # asked for 2, the server sends 6
    client, _ = make_client(fake_llm, tmp_path)
    replies = client.sample(MESSAGES, 2, "round 1")
    assert [r.path for r in replies] == ["n", "n"] and len(fake_llm.requests) == 1
    for reply in replies:
        kept, note = reply.text.rsplit("\n", 1)
        assert kept == "é" * (MAX_ANSWER_BYTES // 2), "cut at the limit, on a character boundary"
        assert "cut this answer here: 262,144 bytes" in note
    (stored,) = (tmp_path / "responses").iterdir()
    saved = json.loads(stored.read_text())
    assert len(saved["texts"]) == 2 and len(saved["raw"]["choices"]) == 2
    assert stored.stat().st_size < 6 * MAX_ANSWER_BYTES, "neither the texts nor the raw body are stored whole"


# -- errors that won't heal stop at once, in one line, without the key -------------------------------------
def test_refused_credentials_stop_at_once_without_leaking_the_key(fake_llm: FakeLLM, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    fake_llm.script("coder", error(401, f"Incorrect API key provided: {SECRET}. Find your key at the dashboard."))
    client, sleeps = make_client(fake_llm, tmp_path)
    with pytest.raises(DesignerError) as raised:
        client.sample(MESSAGES, 2, "round 1")
    message = str(raised.value)
    assert "openai/coder" in message and "401" in message and "API key" in message
    assert SECRET not in message and "\n" not in message
    assert len(fake_llm.requests) == 1 and sleeps == []
    assert fake_llm.requests[0].headers["authorization"] == f"Bearer {SECRET}", "the key comes from the environment"


@pytest.mark.parametrize(("status", "words"), [(404, "model not found"), (400, "rejected the request"),
                                               (403, "access denied")])
def test_other_permanent_errors_name_the_model_and_what_to_check(fake_llm: FakeLLM, tmp_path: Path, status: int,
                                                                 words: str) -> None:
    fake_llm.script("coder", error(status, "nope"))
    client, _ = make_client(fake_llm, tmp_path)
    with pytest.raises(DesignerError, match=words) as raised:
        client.sample(MESSAGES, 1, "round 1")
    assert "openai/coder" in str(raised.value) and len(fake_llm.requests) == 1


def test_a_model_string_litellm_cannot_route_fails_before_any_request(fake_llm: FakeLLM, tmp_path: Path) -> None:
    client = LLMClient("ofline", LLMOptions(api_base=fake_llm.url), ResponseStore(tmp_path))
    with pytest.raises(DesignerError, match="litellm model string"):
        client.sample(MESSAGES, 2, "round 1")
    assert fake_llm.requests == []


def test_a_missing_key_is_named_before_any_request(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    client = LLMClient("openai/gpt-4o-mini", LLMOptions(timeout_s=5.0), ResponseStore(tmp_path))
    with pytest.raises(DesignerError, match=r"no API key; set OPENAI_API_KEY in the environment \(or give --api-base"):
        client.sample(MESSAGES, 2, "round 1")


# -- accounting and budget caps ------------------------------------------------------------------------------
def test_cost_comes_from_litellm_price_map_for_known_models(fake_llm: FakeLLM, tmp_path: Path) -> None:
    litellm = import_litellm()  # offline-configured: a bare `import litellm` first would fetch the price map

    fake_llm.script("gpt-4o-mini", ok("a", "b"))
    client, _ = make_client(fake_llm, tmp_path, model="gpt-4o-mini")
    replies = client.sample(MESSAGES, 2, "round 1")
    (call,) = client.store.calls() if client.store else []
    info = litellm.get_model_info("openai/gpt-4o-mini")
    expected = call.usage.tokens_in * info["input_cost_per_token"] + call.usage.tokens_out * info["output_cost_per_token"]
    assert call.usage.cost == pytest.approx(expected) and expected > 0
    assert sum(r.usage.cost or 0 for r in replies) == pytest.approx(expected), "shares add up to the call"


def test_unknown_model_has_no_cost_unless_prices_are_given(fake_llm: FakeLLM, tmp_path: Path) -> None:
    fake_llm.script("coder", ok("a"))
    client, _ = make_client(fake_llm, tmp_path / "a")
    assert client.sample(MESSAGES, 1, "r")[0].usage.cost is None, "no price known: no made-up cost"
    priced, _ = make_client(fake_llm, tmp_path / "b", price_in=2.0, price_out=8.0)
    usage = priced.sample(MESSAGES, 1, "r")[0].usage
    assert usage.cost == pytest.approx((usage.tokens_in * 2.0 + usage.tokens_out * 8.0) / 1e6)


def test_cost_cap_needs_a_price(fake_llm: FakeLLM, tmp_path: Path) -> None:
    fake_llm.script("coder", ok("a"))
    client, _ = make_client(fake_llm, tmp_path, max_cost=1.0)
    with pytest.raises(DesignerError, match="--price-in and --price-out"):
        client.sample(MESSAGES, 1, "r")
    assert fake_llm.requests == []


@pytest.mark.parametrize("cap", ["max_tokens", "max_cost"])
def test_caps_stop_before_the_call_that_would_pass_them(fake_llm: FakeLLM, tmp_path: Path, cap: str) -> None:
    fake_llm.script("coder", ok("a"))
    prices = {"price_in": 1000.0, "price_out": 1000.0}
    first, _ = make_client(fake_llm, tmp_path, **prices)
    spent = first.sample(MESSAGES, 1, "round 1")[0].usage
    limit = spent.tokens + 1 if cap == "max_tokens" else (spent.cost or 0) * 1.5
    capped, _ = make_client(fake_llm, tmp_path, **prices, **{cap: limit})
    with pytest.raises(BudgetExhausted, match="cap reached"):
        capped.sample(MESSAGES, 1, "round 2")
    assert len(fake_llm.requests) == 1, "the refused call was never made"
    assert capped.sample(MESSAGES, 1, "round 1")[0].text == "a", "stored answers cost nothing and stay available"


def test_one_cost_cap_counts_the_designer_and_the_critic_together(fake_llm: FakeLLM, tmp_path: Path) -> None:
    """The critic keeps its answers in a store of its own; --max-cost is still one cap on the run's money."""
    fake_llm.script("coder", ok("a"))
    fake_llm.script("vlm", ok("verdicts"))
    prices = {"price_in": 1000.0, "price_out": 1000.0}
    designer, _ = make_client(fake_llm, tmp_path, **prices)
    spent = designer.sample(MESSAGES, 1, "round 1")[0].usage.cost or 0.0
    opts = LLMOptions(api_base=fake_llm.url, timeout_s=5.0, max_cost=spent * 0.9, **prices)  # type: ignore[arg-type]
    alone = LLMClient("openai/vlm", opts, ResponseStore(tmp_path / "critic"))
    assert alone.sample(MESSAGES, 1, "judge 1")[0].text == "verdicts", "its own store alone is under the cap"
    critic = LLMClient("openai/vlm", opts, ResponseStore(tmp_path / "critic2"),
                       cost_with=(ResponseStore(tmp_path / "responses"),))
    with pytest.raises(BudgetExhausted, match="designer and critic together"):
        critic.sample(MESSAGES, 1, "judge 1")
    designer.sample(MESSAGES, 1, "round 2")  # written by another store object over the same folder
    assert ResponseStore(tmp_path / "responses").total().calls == 2


# -- the response store: nothing is paid twice ---------------------------------------------------------------
def test_a_stored_request_is_never_sent_again(fake_llm: FakeLLM, tmp_path: Path) -> None:
    fake_llm.script("coder", ok("first", honour_n=False), ok("second"), ok("third"))
    client, _ = make_client(fake_llm, tmp_path)
    before = [r.text for r in client.sample(MESSAGES, 2, "round 1")]
    sent = len(fake_llm.requests)
    resumed, _ = make_client(fake_llm, tmp_path)  # a new process: same run directory, fresh client
    assert [r.text for r in resumed.sample(MESSAGES, 2, "round 1")] == before
    assert len(fake_llm.requests) == sent
    resumed.sample(MESSAGES, 2, "round 2")
    assert len(fake_llm.requests) > sent, "another place in the run is another request"


def test_replay_never_calls_and_fails_loudly_on_a_missing_answer(fake_llm: FakeLLM, tmp_path: Path) -> None:
    fake_llm.script("coder", ok("recorded"))
    client, _ = make_client(fake_llm, tmp_path)
    client.sample(MESSAGES, 1, "round 1")
    replay = LLMClient("openai/coder", LLMOptions(api_base=fake_llm.url, timeout_s=5.0),
                       ResponseStore(tmp_path / "responses"), offline=True)
    assert replay.sample(MESSAGES, 1, "round 1")[0].text == "recorded"
    with pytest.raises(DesignerError, match="no recorded response"):
        replay.sample(MESSAGES, 1, "round 2")
    assert len(fake_llm.requests) == 1


def test_stored_responses_hold_no_key(fake_llm: FakeLLM, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    fake_llm.script("coder", ok(f"the server echoed {SECRET} into its answer"))
    client, _ = make_client(fake_llm, tmp_path)
    assert SECRET not in client.sample(MESSAGES, 1, "round 1")[0].text
    stored = [p.read_text() for p in (tmp_path / "responses").iterdir()]
    assert stored and not any(SECRET in text for text in stored)
    assert json.loads(stored[0])["texts"] == ["the server echoed *** into its answer"]


# -- small pieces ------------------------------------------------------------------------------------------
def test_redact_hides_credentials_and_bearer_tokens() -> None:
    assert redact(f"key {SECRET} and Bearer abc.def.0123456789", [SECRET]) == "key *** and Bearer ***"
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc_DEF-123=="
    assert redact(f'headers = {{"Authorization": "Bearer {jwt}", "x": 1}}', []) == \
        'headers = {"Authorization": "Bearer ***", "x": 1}'


@pytest.mark.parametrize("text", [
    "Use Bearer authentication: send the key in a header.",
    "Authorization: Bearer\n\n```python\ndef compute_reward(state, action):\n```",
    'curl -H "Authorization: Bearer $OPENAI_API_KEY" https://api.example/v1',
    "Authorization: Bearer <YOUR_KEY>",
])
def test_redact_leaves_text_after_bearer_alone_when_no_token_follows(text: str) -> None:
    assert redact(text, []) == text


def test_redact_keeps_what_follows_a_bearer_token() -> None:
    assert redact("send Bearer sk-abc123def456ghi.\nThen call it.", []) == "send Bearer ***.\nThen call it."


def test_retry_after_accepts_seconds_milliseconds_and_dates() -> None:
    class Err(Exception):
        def __init__(self, headers: dict[str, str]) -> None:
            super().__init__("x")
            self.response = type("R", (), {"headers": headers})()

    assert retry_after_s(Err({"retry-after": "3"})) == 3.0
    assert retry_after_s(Err({"retry-after-ms": "250"})) == 0.25
    assert retry_after_s(Err({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"}), now=1445412480.0) == 10.0
    assert retry_after_s(Err({})) is None


def test_litellm_is_not_imported_by_the_cli_or_by_making_a_designer() -> None:
    code = (
        "import sys\n"
        "import rewardsmith.agent.app.cli, rewardsmith.agent.loop, rewardsmith.agent.design.llm.client, rewardsmith.agent.design.designers.llm\n"
        "from rewardsmith.agent.design.designers import make_designer\n"
        "from rewardsmith.agent.records.config import LLMOptions\n"
        "d = make_designer('openai/gpt-4o-mini', llm=LLMOptions(api_base='http://127.0.0.1:1/v1'))\n"
        "try:\n    rewardsmith.agent.app.cli.main(['run', '--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'litellm' not in sys.modules and 'openai' not in sys.modules, 'litellm was imported'\n"
        "print(d.label)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "LLM openai/gpt-4o-mini at http://127.0.0.1:1/v1" in proc.stdout
    assert "--api-base" in proc.stdout and "--max-cost" in proc.stdout

"""``rewardsmith run --designer openai/<name> --api-base http://127.0.0.1:PORT/v1`` end to end, on a tiny budget.

The CLI runs in this process (so the network guard covers it) against the scripted server; training
runs in worker processes as usual. Also: a round where every call fails stops the run cleanly and
resumably, a budget cap stops it before the call that would pass it, and refused credentials end
it at once in one line — and no API key ever reaches the run directory.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rewardsmith.agent.app.cli import EXIT_FAILED, EXIT_OK, EXIT_STOPPED, main
from rewardsmith.agent.design.llm.client import RetryPolicy
from tests.support.fake_llm import FakeLLM, error, ok

CORPUS = Path(__file__).resolve().parents[2] / "data" / "llm_responses"
SECRET = "sk-test-SECRET-e2e-0123456789"


def text(name: str) -> str:
    return (CORPUS / f"{name}.md").read_text()


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Transient failures are retried twice with 10 ms backoff instead of seconds."""
    monkeypatch.setattr("rewardsmith.agent.design.designers.llm.RetryPolicy", lambda: RetryPolicy(max_attempts=2, backoff_s=0.01))
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)


def run(server: FakeLLM, out: Path, *extra: str, rounds: int = 1, samples: int = 1) -> int:
    return main(["run", "cartpole", "--designer", "openai/coder", "--api-base", server.url, "--rounds", str(rounds),
                 "--samples", str(samples), "--steps", "1024", "--no-baselines", "--final-seeds", "0", "--workers", "2",
                 "--out", str(out),
                 *extra])


def run_dir(out: Path) -> Path:
    (only,) = list(out.iterdir())
    return only


def assert_no_secret(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), f"API key written to {path}"


def test_llm_designer_run_end_to_end(fake_llm: FakeLLM, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake_llm.script("coder",
                    ok(text("good_upright"), text("truncated")),        # round 1: one good, one cut off
                    ok(text("good_alive")),                             # the fix of the cut-off one
                    ok(text("helpers_after"), text("several_blocks")))  # round 2
    assert run(fake_llm, tmp_path, rounds=2, samples=2) == EXIT_OK
    out = capsys.readouterr().out
    root = run_dir(tmp_path)
    summary = json.loads((root / "summary.json").read_text())
    assert [(r["accepted"], r["trained"], r["candidates"]) for r in summary["rounds"]] == [(2, 2, 2), (2, 2, 2)]
    assert summary["finished"] is True and summary["stopped"] is None
    assert summary["usage"]["calls"] == 3 and summary["usage"]["tokens_in"] > 0 and summary["usage"]["cost"] is None
    assert [r.n for r in fake_llm.requests] == [2, 1, 2]
    assert all(r.headers["authorization"] == f"Bearer {SECRET}" for r in fake_llm.requests)
    fixed = json.loads((root / "round_01" / "cand_02" / "candidate.json").read_text())
    assert fixed["attempts"] == 2 and (root / "round_01" / "cand_02" / "attempt_1" / "response.md").is_file()
    assert "designer: 3 calls" in out and "LLM openai/coder" in out  # the summary's cost line
    assert json.loads((root / "config.json").read_text())["config"]["llm"]["api_base"] == fake_llm.url
    assert_no_secret(root)

    # resume of the finished run: every answer comes from the response store, nothing is paid twice
    assert main(["resume", str(root)]) == EXIT_OK
    assert len(fake_llm.requests) == 3


def test_a_first_round_where_every_call_fails_leaves_no_run_directory(fake_llm: FakeLLM, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Nothing was recorded, so there is nothing to resume: no empty run for ``rewardsmith ui`` to list (issue 26)."""
    fake_llm.script("coder", error(503, "The server is overloaded"))
    assert run(fake_llm, tmp_path) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: round 1: every call to the model failed") and "\n" not in err
    assert "no run directory was kept" in err and list(tmp_path.iterdir()) == []


def test_a_round_where_every_call_fails_stops_cleanly_and_resumes(fake_llm: FakeLLM, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    # round 1: a refusal and its 2 fixes (nothing to train keeps this test fast); round 2: the server fails
    fake_llm.script("coder", ok(text("refusal")), ok(text("refusal")), ok(text("refusal")),
                    error(503, "The server is overloaded"))
    assert run(fake_llm, tmp_path, rounds=2) == EXIT_STOPPED
    err = capsys.readouterr().err
    root = run_dir(tmp_path)
    assert "stopped: round 2: every call to the model failed" in err and f"rewardsmith resume {root}" in err
    stop = json.loads((root / "round_02" / "stopped.json").read_text())
    assert stop["kind"] == "DesignerUnavailable" and "503" in stop["reason"]
    summary = json.loads((root / "summary.json").read_text())
    assert summary["finished"] is False and "every call to the model failed" in summary["stopped"]

    # the model is back (and still refuses); round 1 is not redone, round 2 is
    fake_llm.script("coder", ok(text("refusal")))
    failed_attempts = len(fake_llm.requests)
    assert main(["resume", str(root)]) == EXIT_FAILED  # finished, but nothing was trained: said with exit 1
    assert "error: no candidate was trained" in capsys.readouterr().err
    summary = json.loads((root / "summary.json").read_text())
    assert summary["finished"] is True and summary["stopped"] is None
    assert summary["rounds"][1]["candidates"] == 1 and summary["usage"]["calls"] == 6  # 3 per round
    assert len(fake_llm.requests) == failed_attempts + 3


def test_a_token_cap_stops_before_the_call_that_would_pass_it(fake_llm: FakeLLM, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    fake_llm.script("coder", ok(text("refusal")))
    assert run(fake_llm, tmp_path, "--max-tokens", "100") == EXIT_STOPPED
    assert "token cap reached" in capsys.readouterr().err
    assert len(fake_llm.requests) == 1, "the fix call was not made"
    root = run_dir(tmp_path)
    assert json.loads((root / "round_01" / "stopped.json").read_text())["kind"] == "BudgetExhausted"
    assert json.loads((root / "summary.json").read_text())["finished"] is False

    assert main(["resume", str(root), "--max-tokens", "1000000"]) == EXIT_FAILED  # refusals only: nothing trained
    assert len(fake_llm.requests) == 3, "the first answer came from the store; only the 2 fixes were paid for"
    assert json.loads((root / "round_01" / "cand_01" / "candidate.json").read_text())["attempts"] == 3


def test_refused_credentials_end_the_run_in_one_line(fake_llm: FakeLLM, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    fake_llm.script("coder", error(401, f"Incorrect API key provided: {SECRET}"))
    assert run(fake_llm, tmp_path) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: designer openai/coder: the provider at") and "refused the credentials" in err
    assert "\n" not in err and SECRET not in err
    assert len(fake_llm.requests) == 1
    assert_no_secret(tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing was recorded: no run directory is left (issue 26)


class _DesignRunStarted(Exception):
    """Raised in place of the bench's design run: what reached it is the test's subject, not the training."""


def test_bench_passes_the_llm_options_to_its_design_runs(fake_llm: FakeLLM, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The bench's design run is recorded with the CLI's LLM options (the whole bench trains in test_bench.py)."""
    from rewardsmith.agent import loop

    def started(store: object, record: object, view: object) -> None:
        raise _DesignRunStarted

    monkeypatch.setattr(loop, "run_loop", started)
    with pytest.raises(_DesignRunStarted):
        main(["bench", "cartpole", "--designer", "openai/coder", "--api-base", fake_llm.url, "--rounds", "1",
              "--samples", "1", "--seeds", "1", "--steps", "256", "--workers", "2", "--max-tokens", "100000",
              "--dir", str(tmp_path / "bench")])
    config = json.loads((tmp_path / "bench" / "cartpole" / "design" / "config.json").read_text())
    assert config["config"]["llm"]["api_base"] == fake_llm.url and config["config"]["llm"]["max_tokens"] == 100000
    assert config["config"]["designer"] == "openai/coder"
    assert_no_secret(tmp_path / "bench")

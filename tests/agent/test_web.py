"""The web app without a browser: binding rules, the token, path safety and bad form input."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import copy_run
from fastapi.testclient import TestClient

from agent.web.app import create_app
from agent.web.server import check_bind
from core.errors import ConfigError


def test_binding_beyond_localhost_needs_a_token() -> None:
    check_bind("127.0.0.1", None)
    check_bind("0.0.0.0", "s3cret")
    with pytest.raises(ConfigError, match="--token"):
        check_bind("0.0.0.0", None)


def test_token_is_required_on_every_page(tmp_path: Path) -> None:
    client = TestClient(create_app(tmp_path, token="s3cret"))
    assert client.get("/").status_code == 403
    assert client.get("/?token=wrong").status_code == 403
    assert client.get("/?token=s3cret").status_code == 200
    assert client.get("/").status_code == 200  # the cookie set by the first good request


def test_pages_of_a_paused_run_and_bad_input(paused_run_template: Path, tmp_path: Path) -> None:
    run = copy_run(paused_run_template, tmp_path)
    client = TestClient(create_app(tmp_path))
    assert run.name in client.get("/").text
    page = client.get(f"/runs/{run.name}")
    assert page.status_code == 200 and "waiting for your review" in page.text and "<svg" in page.text
    round_page = client.get(f"/runs/{run.name}/rounds/1").text
    assert round_page.count("<video") == 2 and 'name="best"' in round_page
    candidate = client.get(f"/runs/{run.name}/candidates/r01c01")
    assert candidate.status_code == 200 and "compute_reward" in candidate.text
    assert client.get(f"/runs/{run.name}/candidates/r01c01/video.mp4").headers["content-type"] == "video/mp4"
    for bad in ("/runs/..%2F..%2Fetc", "/runs/nope", f"/runs/{run.name}/candidates/r09c09",
                f"/runs/{run.name}/rounds/7"):
        assert client.get(bad).status_code == 404, bad

    refused = client.post(f"/runs/{run.name}/rounds/1/review", data={"best": "r01c09", "text": "x"})
    assert refused.status_code == 400 and "no trained candidate &#39;r01c09&#39;" in refused.text
    two_edits = client.post(f"/runs/{run.name}/rounds/1/review",
                            data={"edit_r01c01": "x = 1", "edit_r01c02": "y = 2"})
    assert two_edits.status_code == 400 and "edit one candidate per review" in two_edits.text
    assert not (run / "round_01" / "human.json").exists()

    ok = client.post(f"/runs/{run.name}/rounds/1/review", data={"worst": "r01c02", "action": "stop"},
                     follow_redirects=False)
    assert ok.status_code == 303
    assert '"worst": "r01c02"' in (run / "round_01" / "human.json").read_text()
    again = client.post(f"/runs/{run.name}/rounds/1/review", data={"best": "r01c01"})
    assert again.status_code == 400 and "already reviewed" in again.text

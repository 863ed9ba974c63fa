"""The web app without a browser: the token, Host and origin checks, path safety and bad form input."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from rich.console import Console

from rewardsmith.agent.app.web import server
from rewardsmith.agent.app.web.app import create_app
from rewardsmith.agent.app.web.guard import Guard
from rewardsmith.core.errors import ConfigError
from tests.support.runs import copy_run
from tests.support.web import BASE, PORT, TOKEN, client_for


def test_token_is_required_on_every_page(tmp_path: Path) -> None:
    client = TestClient(create_app(tmp_path, Guard.for_bind(TOKEN, "127.0.0.1", PORT)), base_url=BASE)
    assert client.get("/").status_code == 403
    assert client.get("/?token=wrong").status_code == 403
    opened = client.get(f"/?token={TOKEN}", follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == "/", "the token leaves the address bar"
    cookie = opened.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert client.get("/").status_code == 200  # the cookie set by the first good request


@pytest.mark.parametrize("host", ["evil.example", f"evil.example:{PORT}", f"127.0.0.1:{PORT + 1}", "127.0.0.1"])
def test_a_foreign_host_is_refused_even_with_the_token(tmp_path: Path, host: str) -> None:
    # DNS rebinding: a page on evil.example, re-pointed at 127.0.0.1, reaches the app under its own name
    client = client_for(tmp_path)
    refused = client.get("/", headers={"host": host})
    assert refused.status_code == 403 and "is not this server's address" in refused.text
    for name in ("localhost", "127.0.0.1", "[::1]"):
        assert client.get("/", headers={"host": f"{name}:{PORT}"}).status_code == 200, name


def test_a_remote_bind_answers_to_its_address_and_the_names_given() -> None:
    guard = Guard.for_bind(TOKEN, "0.0.0.0", PORT, ("ui.lab.example", "fe80::1"))
    assert guard.host_ok(f"ui.lab.example:{PORT}") and guard.host_ok(f"[fe80::1]:{PORT}")
    assert guard.host_ok(f"LOCALHOST:{PORT}") and not guard.host_ok("ui.lab.example") and not guard.host_ok(None)
    assert Guard.for_bind(TOKEN, "::1", 80).host_ok("[::1]"), "port 80 is left out of Host by browsers"


def test_foreign_origin_posts_are_refused(paused_run_template: Path, tmp_path: Path) -> None:
    run = copy_run(paused_run_template, tmp_path)
    review = f"/runs/{run.name}/rounds/1/review"
    evil = client_for(tmp_path, origin="http://evil.example")
    refused = evil.post(review, data={"worst": "r01c02", "edit_r01c01": "x = 1"})
    assert refused.status_code == 403 and "evil.example" in refused.text
    # with no Origin, a foreign Referer, or no CSRF token, is refused too
    bare = client_for(tmp_path, origin=None)
    assert bare.post(review, data={"worst": "r01c02"}).status_code == 403
    assert bare.post(review, data={"worst": "r01c02"}, headers={"referer": "http://evil.example/x"}).status_code == 403
    assert bare.post(review, data={"worst": "r01c02", "csrf": "0" * 64}).status_code == 403
    other_round = Guard.for_bind(TOKEN, "127.0.0.1", PORT).csrf_for(f"/runs/{run.name}/rounds/2/review")
    assert bare.post(review, data={"worst": "r01c02", "csrf": other_round}).status_code == 403
    assert not (run / "round_01" / "human.json").exists(), "nothing was submitted"

    # the form's own CSRF token, or a same-origin Referer, is enough when a browser sends no Origin
    page = bare.get(f"/runs/{run.name}/rounds/1").text
    csrf = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    assert csrf is not None
    ok = bare.post(review, data={"worst": "r01c02", "action": "stop", "csrf": csrf.group(1)}, follow_redirects=False)
    assert ok.status_code == 303 and (run / "round_01" / "human.json").exists()


def test_pages_of_a_paused_run_and_bad_input(paused_run_template: Path, tmp_path: Path) -> None:
    run = copy_run(paused_run_template, tmp_path)
    client = client_for(tmp_path)
    assert run.name in client.get("/").text
    page = client.get(f"/runs/{run.name}")
    assert page.status_code == 200 and "waiting for your review" in page.text
    assert f'src="/runs/{run.name}/fitness.png"' in page.text
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


# -- the token: generated per start, or from a file or the environment, never from argv ----------------------
def test_the_token_is_random_per_start_unless_given(tmp_path: Path) -> None:
    first, second = server.ui_token(None, {}), server.ui_token(None, {})
    assert first != second and len(first) >= 32
    assert server.ui_token(None, {server.TOKEN_ENV: f" {TOKEN}\n"}) == TOKEN
    (tmp_path / "token").write_text(TOKEN + "\n")
    assert server.ui_token(tmp_path / "token", {server.TOKEN_ENV: "ignored-when-a-file-is-given"}) == TOKEN
    with pytest.raises(ConfigError, match="at least 16 printable characters"):
        server.ui_token(None, {server.TOKEN_ENV: "short"})
    with pytest.raises(ConfigError, match="cannot read it"):
        server.ui_token(tmp_path / "missing", {})


def test_serve_prints_the_url_with_a_fresh_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    served: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.update(app=app, **kw))
    out = io.StringIO()
    assert server.serve(tmp_path, "127.0.0.1", PORT, None, Console(file=out, width=300), environ={}) == 0
    url = re.search(rf"http://127\.0\.0\.1:{PORT}/\?token=(\S+)", out.getvalue())
    assert url is not None and served["host"] == "127.0.0.1" and served["port"] == PORT
    client = TestClient(served["app"], base_url=BASE)  # type: ignore[arg-type]
    assert client.get("/").status_code == 403 and client.get(f"/?token={url.group(1)}").status_code == 200
    with pytest.raises(ConfigError, match="--port"):
        server.serve(tmp_path, "127.0.0.1", 0, None, Console(file=io.StringIO()), environ={})


def test_the_lineage_page_shows_every_candidate_under_its_parent(paused_run_template: Path, tmp_path: Path) -> None:
    run = copy_run(paused_run_template, tmp_path)
    client = client_for(run.parent)
    page = client.get(f"/runs/{run.name}/lineage")
    assert page.status_code == 200
    assert "r01c01" in page.text and "r01c02" in page.text and 'id="lineage"' in page.text
    assert f'/runs/{run.name}/lineage' in client.get(f"/runs/{run.name}").text

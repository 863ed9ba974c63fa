"""The web app in real headless Chromium: review a paused run, and the run continues with that feedback.

A page on another origin that posts the review form on load is refused (same site, other port: the
SameSite cookie goes along, so only the origin check stands between it and the run).

Uses Debian's ``chromium`` (installed by ``scripts/setup-system.sh``) through Playwright with
``executable_path``; no browser is ever downloaded. Background networking is switched off because
this machine's network refuses it.
"""

from __future__ import annotations

import io
import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from rich.console import Console

from rewardsmith.agent.app.web.app import create_app
from rewardsmith.agent.app.web.guard import Guard
from rewardsmith.agent.display import ProgressView
from rewardsmith.agent.loop import run_loop
from rewardsmith.agent.rundir.store import RunStore
from tests.support.runs import copy_run

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]
TOKEN = "chromium-test-token-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def web(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The web app over ``tmp_path/runs`` on 127.0.0.1; yields (base URL, runs dir)."""
    runs = tmp_path / "runs"
    runs.mkdir()
    port = _free_port()
    app = create_app(runs, Guard.for_bind(TOKEN, "127.0.0.1", port))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the web app did not start"
    yield f"http://127.0.0.1:{port}", runs
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def evil_page() -> Iterator[tuple[str, list[str]]]:
    """A page on another origin (127.0.0.1, another port) whose HTML the test sets; yields (its URL, [html])."""
    html = [""]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = html[0].encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    evil = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=evil.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{evil.server_address[1]}/", html
    evil.shutdown()
    evil.server_close()
    thread.join(timeout=5)


def _open(pw: Any, tmp_path: Path, base: str, width: int = 1400) -> tuple[Any, Any]:
    """Headless Chromium (a fresh profile, ``width`` px wide) that has opened the app's link: (browser, page)."""
    browser = pw.chromium.launch_persistent_context(str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True,
                                                    args=CHROMIUM_ARGS, viewport={"width": width, "height": 900})
    page = browser.new_page()
    page.goto(f"{base}/?token={TOKEN}")
    return browser, page


def _wait_for_image(page: Any, selector: str, timeout_s: float = 30.0) -> None:
    """Until the image has loaded (polled from Python: the pages' CSP forbids the eval that wait_for_function needs)."""
    deadline = time.monotonic() + timeout_s
    while not page.locator(selector).evaluate("img => img.complete && img.naturalWidth > 0"):
        assert time.monotonic() < deadline, f"{selector} did not load within {timeout_s:g} s"
        time.sleep(0.1)


def _wait_for(path: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear within {timeout_s:g} s"
        time.sleep(0.2)


@pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs Debian's chromium (scripts/setup-system.sh)")
def test_review_in_chromium_continues_the_run(paused_run_template: Path, web: tuple[str, Path],
                                              evil_page: tuple[str, list[str]], tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    base, runs = web
    run = copy_run(paused_run_template, runs)
    store = RunStore(run)
    record = store.load_record()
    record = replace(record, config=replace(record.config, review="web", review_timeout_s=300.0))
    outcome: dict[str, object] = {}

    def continue_run() -> None:  # the run as `--review web` left it: waiting for the web app's submission
        try:
            outcome["summary"] = run_loop(store, record, ProgressView(Console(file=io.StringIO())))
        except BaseException as exc:
            outcome["error"] = exc

    loop = threading.Thread(target=continue_run, daemon=True)
    loop.start()
    with sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(str(tmp_path / "profile"), executable_path=CHROMIUM,
                                                        headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(f"{base}/?token={TOKEN}")
        assert "token" not in page.url, "the token moved into a cookie"

        # Another origin's page submits the review form on load: refused, nothing submitted.
        evil_url, html = evil_page
        html[0] = (f'<form method="post" action="{base}/runs/{run.name}/rounds/1/review">'
                   '<input name="worst" value="r01c01"><input name="action" value="stop"></form>'
                   "<script>document.forms[0].submit()</script>")
        page.goto(evil_url)
        page.wait_for_url(f"{base}/runs/**")
        assert "forbidden" in page.content() and "not from this app" in page.content()
        assert not (run / "round_01" / "human.json").exists()

        page.goto(base + "/")
        page.click(f"a[href='/runs/{run.name}']")
        page.click("a.review-link")
        assert page.locator("form#review").count() == 1
        # a video element and the code of each candidate
        for cid in ("r01c01", "r01c02"):
            card = page.locator(f"#card-{cid}")
            assert card.locator("video").count() == 1
            assert "def compute_reward" in card.locator(".code").inner_text()
            src = card.locator("video").get_attribute("src")
            assert src is not None
            response = page.request.get(base + src)
            assert response.status == 200 and response.headers["content-type"] == "video/mp4"
        page.check("#card-r01c02 input[name=best]")
        page.check("#card-r01c01 input[name=worst]")
        lock_box = page.locator("#card-r01c02 input[name=lock]").first
        locked_key = lock_box.get_attribute("value") or ""
        lock_box.check()
        page.fill("textarea[name=text]", "it wobbles near the edge; keep the pole steadier")
        page.click("#continue")
        assert "Review saved" in page.locator("#submitted").inner_text()

        # The waiting run picks the review up, trains round 2 and pauses again.
        _wait_for(run / "round_02" / "review.json", timeout_s=300)
        page.goto(f"{base}/runs/{run.name}/rounds/2")
        assert locked_key in page.locator("form#review").inner_text()
        page.click("#stop")
        assert page.locator("#submitted").count() == 1
        browser.close()
    loop.join(timeout=120)
    assert not loop.is_alive() and "error" not in outcome, outcome.get("error")

    source, component = locked_key.split(":")
    human = json.loads((run / "round_01" / "human.json").read_text())
    assert (human["best"], human["worst"], human["reviewer"]) == ("r01c02", "r01c01", "web")
    assert human["locked"][0]["name"] == component and human["locked"][0]["source"] == source
    prompt = (run / "round_02" / "cand_01" / "prompt.md").read_text()
    assert "keep the pole steadier" in prompt and f"`{component}`" in prompt
    for index in (1, 2):
        report = json.loads((run / "round_02" / f"cand_{index:02d}" / "validation.json").read_text())
        assert component in report["components"]
    assert json.loads((run / "round_02" / "human.json").read_text())["action"] == "stop"
    assert (run / "summary.json").is_file()


@pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs Debian's chromium (scripts/setup-system.sh)")
def test_the_round_comparison_page_in_chromium(paused_run_template: Path, web: tuple[str, Path],
                                               tmp_path: Path) -> None:
    """Curves overlaid (the image loads), the diff, two videos side by side; the pages render (screenshots).

    docs/screenshots/ is made by ``scripts/screenshots.py RUN_DIR`` from a whole run.
    """
    from playwright.sync_api import sync_playwright

    base, runs = web
    run = copy_run(paused_run_template, runs)
    out = tmp_path / "shots"
    out.mkdir()
    with sync_playwright() as pw:
        browser, page = _open(pw, tmp_path, base)
        page.goto(f"{base}/runs/{run.name}")
        _wait_for_image(page, "#fitness-plot")
        page.screenshot(path=str(out / "run.png"), full_page=True)
        page.goto(f"{base}/runs/{run.name}/rounds/1")
        page.click("a#compare-link")
        _wait_for_image(page, "#curves")
        assert page.locator(".compare video").count() == 2
        boxes = [page.locator(f"#cmp-r01c0{i}").bounding_box() for i in (1, 2)]
        assert boxes[0] is not None and boxes[1] is not None and boxes[0]["y"] == boxes[1]["y"], "side by side"
        page.select_option("select[name=a]", "r01c02")
        page.select_option("select[name=b]", "r01c01")
        page.click("#choose button")
        _wait_for_image(page, "#curves")
        assert "r01c02/reward.py" in page.locator("#diff").inner_text()
        page.screenshot(path=str(out / "compare.png"), full_page=True)
        browser.close()
    assert (out / "compare.png").stat().st_size > 10_000


@pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs Debian's chromium (scripts/setup-system.sh)")
def test_long_code_and_critique_lines_wrap_and_the_pages_show_held_out_fitness(paused_run_template: Path,
                                                                              web: tuple[str, Path],
                                                                              tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    from rewardsmith.agent.rundir.store import RunStore

    base, runs = web
    run = copy_run(paused_run_template, runs)
    store = RunStore(run)
    r = store.round_results(1)[0]
    assert r.candidate.code is not None and r.critique is not None and r.evaluation is not None
    long_name = "W_" + "VERY_LONG_CONSTANT_NAME_" * 12
    code = r.candidate.code + f"\n{long_name} = 0.5  # {'a long comment ' * 20}\n"
    store.save_sampled(replace(r.candidate, code=code), "prompt", "response")
    store.save_critique(r.candidate, replace(r.critique, text=r.critique.text + "\n" + "speed: [" + "1.25, " * 120 + "]\n"
                                             + "`" + long_name + "` is one long word\n"))
    with sync_playwright() as pw:
        browser, page = _open(pw, tmp_path, base, width=1200)
        page.goto(f"{base}/runs/{run.name}/candidates/{r.candidate.id}")
        assert long_name in page.locator(".code").inner_text()
        # nothing is cut off on the right: neither the page nor a code or critique block scrolls sideways
        for selector in (".code .hl", "#critique"):
            width, scroll = page.locator(selector).evaluate("e => [e.clientWidth, e.scrollWidth]")
            assert scroll <= width, (selector, width, scroll)
        assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
        assert page.locator("#critique h2").count() == 1 and page.locator("#critique li").count() >= 1
        heldout = f"{r.evaluation.heldout.mean:.4g} ± {r.evaluation.heldout.std:.2g}"
        assert page.locator("#heldout").inner_text() == heldout
        page.goto(f"{base}/runs/{run.name}/rounds/1")
        assert heldout in page.locator("#round-table").inner_text()
        width, scroll = page.locator(f"#card-{r.candidate.id} .hl").evaluate("e => [e.clientWidth, e.scrollWidth]")
        assert scroll <= width
        browser.close()

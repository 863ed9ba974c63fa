"""Screenshots of a run's web pages in headless Chromium: how docs/screenshots/ is made.

    .venv/bin/python scripts/screenshots.py RUN_DIR [OUT_DIR]   # OUT_DIR defaults to docs/screenshots

Serves the run directory's parent with the web app (``rewardsmith ui``'s app, on 127.0.0.1 and a free
port, with a one-off token) and saves, full-page at 1400 px wide: ``run.png`` (the run page),
``round.png`` (its last round), ``candidate.png`` (the selected reward's page) and ``compare.png``
(the last round's comparison page). Uses Debian's ``chromium`` (``scripts/setup-system.sh``) through
Playwright; nothing is downloaded.
"""

from __future__ import annotations

import secrets
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]
START_TIMEOUT_S = 20.0
"""How long the web app may take to start."""
PAGE_TIMEOUT_MS = 30_000
"""How long a page (and its plot) may take to load."""


def take(run_dir: Path, out: Path) -> list[Path]:
    """Screenshots of ``run_dir``'s run, last round, selected candidate and comparison pages into ``out``."""
    import tempfile

    import uvicorn
    from playwright.sync_api import sync_playwright

    from rewardsmith.agent.app.web.app import create_app
    from rewardsmith.agent.app.web.guard import Guard
    from rewardsmith.agent.rundir.store import RunStore

    store = RunStore(run_dir)
    if not store.exists or not store.rounds():
        raise SystemExit(f"error: {run_dir} is not a RewardSmith run directory with a round")
    last = store.rounds()[-1]
    summary = store.load_summary()
    feedback = store.load_feedback(last)
    best = (summary.best_id if summary is not None else None) or (feedback.best_id if feedback else None)
    best = best or store.round_results(last)[0].candidate.id
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    token = secrets.token_urlsafe(24)
    server = uvicorn.Server(uvicorn.Config(create_app(run_dir.parent, Guard.for_bind(token, "127.0.0.1", port)),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if time.monotonic() > deadline:
            raise SystemExit(f"error: the web app did not start within {START_TIMEOUT_S:g} s")
        time.sleep(0.05)
    base, run = f"http://127.0.0.1:{port}", run_dir.name
    out.mkdir(parents=True, exist_ok=True)
    shots = [(out / "run.png", f"/runs/{run}", "#fitness-plot"),
             (out / "round.png", f"/runs/{run}/rounds/{last}", None),
             (out / "candidate.png", f"/runs/{run}/candidates/{best}", "#training-plot"),
             (out / "compare.png", f"/runs/{run}/rounds/{last}/compare", "#curves")]
    try:
        with tempfile.TemporaryDirectory(prefix="rewardsmith-shots-") as profile, sync_playwright() as pw:
            browser = pw.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, headless=True,
                                                            args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 900})
            page = browser.new_page()
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            page.goto(f"{base}/?token={token}")
            for path, url, image in shots:
                page.goto(base + url)
                if image is not None and page.locator(image).count():
                    _wait_for_image(page, image)
                page.screenshot(path=str(path), full_page=True)
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    return [path for path, _, _ in shots]


def _wait_for_image(page: Any, selector: str) -> None:
    """Until the image has loaded (polled from here: the pages' CSP forbids the eval that wait_for_function needs)."""
    deadline = time.monotonic() + PAGE_TIMEOUT_MS / 1000
    while not page.locator(selector).evaluate("img => img.complete && img.naturalWidth > 0"):
        if time.monotonic() > deadline:
            raise SystemExit(f"error: {selector} did not load within {PAGE_TIMEOUT_MS / 1000:g} s")
        time.sleep(0.1)


def main(argv: list[str]) -> int:
    if not argv or len(argv) > 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    out = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[1] / "docs" / "screenshots"
    for path in take(Path(argv[0]).resolve(), out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

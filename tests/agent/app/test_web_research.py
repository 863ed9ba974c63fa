"""The web app for a researcher: PNG plots, the comparison page, live progress, run states, HTML errors."""

from __future__ import annotations

from pathlib import Path

from rewardsmith.agent.rundir.store import RunStore
from rewardsmith.core.atomic import write_json
from rewardsmith.envs.backends.records import Progress
from tests.support.runs import copy_run
from tests.support.web import client_for


def test_plots_are_pngs_and_the_comparison_page_overlays_diffs_and_shows_videos(paused_run_template: Path,
                                                                                 tmp_path: Path) -> None:
    run = copy_run(paused_run_template, tmp_path)
    client = client_for(tmp_path)
    for url in (f"/runs/{run.name}/fitness.png", f"/runs/{run.name}/candidates/r01c01/training.png",
                f"/runs/{run.name}/rounds/1/curves.png?c=r01c01&c=r01c02"):
        got = client.get(url)
        assert got.status_code == 200 and got.headers["content-type"] == "image/png" and got.content[:4] == b"\x89PNG"
    page = client.get(f"/runs/{run.name}/rounds/1/compare?a=r01c01&b=r01c02")
    assert page.status_code == 200
    assert f'src="/runs/{run.name}/rounds/1/curves.png?c=r01c01&amp;c=r01c02"' in page.text
    assert page.text.count("<video") == 2 and "r01c01/reward.py" in page.text and "r01c02/reward.py" in page.text
    assert client.get(f"/runs/{run.name}/rounds/1/compare?a=r01c01&b=r07c07").status_code == 404
    assert f'href="/runs/{run.name}/rounds/1/compare"' in client.get(f"/runs/{run.name}/rounds/1").text


def test_not_found_is_an_html_page_with_a_way_back(tmp_path: Path) -> None:
    got = client_for(tmp_path).get("/runs/nope")
    assert got.status_code == 404 and got.headers["content-type"].startswith("text/html")
    assert "no run &#39;nope&#39;" in got.text and 'href="/"' in got.text and not got.text.startswith("{")


def test_a_run_that_no_process_holds_is_not_running_forever(paused_run_template: Path, tmp_path: Path) -> None:
    run = copy_run(paused_run_template, tmp_path)
    store = RunStore(run)
    client = client_for(tmp_path)
    # the paused run: a review request is waiting
    assert "waiting for review of round 1" in client.get("/").text
    # the same run with its rounds gone: a run that failed before round 1
    import shutil

    for d in run.glob("round_*"):
        shutil.rmtree(d)
    assert "stopped before round 1" in client.get("/").text
    with store.lock():  # a process works on it: running, and the page refreshes itself
        page = client.get(f"/runs/{run.name}").text
        assert "<b class=\"state\">running</b>" in page and 'http-equiv="refresh"' in page
    assert 'http-equiv="refresh"' not in client.get(f"/runs/{run.name}").text


def test_a_training_under_way_shows_its_progress(paused_run_template: Path, tmp_path: Path) -> None:
    run = copy_run(paused_run_template, tmp_path)
    store = RunStore(run)
    files = store.files(1, 1)
    files.metrics.unlink()  # as if r01c01 were still training
    write_json(files.progress, Progress(3072, 2048 * 3))
    with store.lock():
        page = client_for(tmp_path).get(f"/runs/{run.name}").text
    assert 'id="live"' in page and "r01c01" in page and "3,072 / 6,144" in page and "50%" in page

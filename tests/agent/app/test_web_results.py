"""What a researcher reads in the web app: held-out fitness, the baselines, the final comparison's verdicts, the
terminal's cost figures, and the critique as Markdown with candidate-made text kept inert."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from markupsafe import escape

from rewardsmith.agent.records.results import FinalArm, RunSummary
from rewardsmith.agent.report.final import score
from rewardsmith.agent.report.summary import summarize
from rewardsmith.agent.report.text import cost_text, hns_line, verdict_lines
from rewardsmith.agent.rundir.store import RunStore
from rewardsmith.envs.tasks import load_task
from tests.support.runs import copy_run
from tests.support.web import client_for

SEEDS = (1, 2, 3)


def _arm(arm: str, heldout: tuple[float, ...]) -> FinalArm:
    import numpy as np

    return FinalArm(arm=arm, seeds=SEEDS, status=("ok",) * 3, heldout=heldout,  # type: ignore[arg-type]
                    mean=float(np.mean(heldout)), std=float(np.std(heldout)))


def _finished(store: RunStore) -> RunSummary:
    """The run's summary after a final comparison in which the designed reward beat one baseline and tied the other."""
    final = score(SEEDS, 2048, _arm("designed", (480.0, 490.0, 500.0)), _arm("human", (200.0, 210.0, 190.0)),
                  _arm("sparse", (300.0, 500.0, 490.0)), fitness_doc="Number of steps the episode lasted.")
    history = store.round_results(1)
    summary = summarize(store, store.load_record(), load_task("cartpole"), history, [], 60.0, final=final)
    store.save_summary(summary)
    return summary


def _cells(page: str, table: str) -> list[list[str]]:
    body = re.search(rf'<table id="{table}">(.*?)</table>', page, flags=re.S)
    assert body is not None, f"no table #{table}"
    return [[re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, flags=re.S)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), flags=re.S)]


def test_a_finished_run_shows_held_out_fitness_and_the_final_verdicts(paused_run_template: Path,
                                                                      tmp_path: Path) -> None:
    run = copy_run(paused_run_template, tmp_path)
    store = RunStore(run)
    summary = _finished(store)
    client = client_for(tmp_path)
    listing = client.get("/").text
    assert "490 ± 8.2 (3 seeds)" in listing  # the retrained mean ± std over seeds, not the in-loop score
    assert "better than the env&#39;s own reward; tied with the sparse fitness reward" in listing

    page = client.get(f"/runs/{run.name}").text
    result = _cells(page, "result")
    assert result[0][-1] == "retrained on 3 fresh seeds (± over training seeds)"
    assert result[1][0] == f"designed ({summary.best_id})" and result[1][-1] == "490 ± 8.2"
    for line in [*verdict_lines(summary), hns_line(summary)]:  # the terminal's words, not re-derived ones
        assert str(escape(line)) in page, line
    assert "BETTER" in page and "TIED" in page
    # each round's selected candidate with its held-out fitness beside the selection fitness
    rounds = _cells(page, "rounds")
    assert "held-out fitness (± over episodes)" in rounds[0]
    best = next(r for r in store.round_results(1) if r.evaluation is not None)
    round_page = client.get(f"/runs/{run.name}/rounds/1").text
    table = _cells(round_page, "round-table")
    row = next(r for r in table if r[0] == best.candidate.id)
    assert best.evaluation is not None
    assert row[3] == f"{best.evaluation.heldout.mean:.4g} ± {best.evaluation.heldout.std:.2g}"


def test_the_cost_is_the_terminals_while_running_and_when_finished(paused_run_template: Path, tmp_path: Path) -> None:
    run = copy_run(paused_run_template, tmp_path)
    store = RunStore(run)
    client = client_for(tmp_path)
    # so far: every job's wall time from costs.json, as the summary counts it (not the trainings' own clocks)
    jobs = [job for r in store.round_results(1) for job in store.load_costs(store.files_of(r.candidate))]
    train_min = sum(j.wall_s for j in jobs if j.kind == "train") / 60
    cpu_min = sum(j.cpu_s for j in jobs) / 60
    cost = dict(map(tuple, _cells(client.get(f"/runs/{run.name}").text, "cost")))  # type: ignore[arg-type]
    assert cost["training jobs"] == f"{train_min:.1f} min ({cpu_min:.1f} CPU-min of jobs)"
    assert cost["env-steps"] == f"{sum(j.env_steps for j in jobs):,}"
    # finished: the very figures the terminal printed
    summary = _finished(store)
    steps, jobs_text, designer = (v for _, v in _cells(client.get(f"/runs/{run.name}").text, "cost"))
    minutes, cpu = jobs_text.split(" (")
    assert cost_text(summary) == f"{steps} env-steps, {minutes} of training jobs ({cpu}; designer: {designer}"


def test_the_critique_is_markdown_and_candidate_text_stays_inert(paused_run_template: Path, tmp_path: Path) -> None:
    run = copy_run(paused_run_template, tmp_path)
    store = RunStore(run)
    r = store.round_results(1)[0]
    assert r.critique is not None
    text = ("## r01c01: ok\n\nFindings:\n- `speed` makes up **97%** of the reward\n"
            "- a component named <script>alert(1)</script> and <img src=x onerror=alert(2)>\n"
            "- [click](javascript:alert(3)) ![pixel](http://evil.example/p.png) <http://evil.example/>\n"
            "speed: [1, 2, 3]\nlength: [4, 5, 6]\n")
    store.save_critique(r.candidate, replace(r.critique, text=text))
    page = client_for(tmp_path).get(f"/runs/{run.name}/candidates/{r.candidate.id}")
    body = re.search(r'<div class="critique" id="critique">(.*?)</div>', page.text, flags=re.S)
    assert body is not None
    html = body.group(1)
    assert "<h2>r01c01: ok</h2>" in html and "<li><code>speed</code> makes up <strong>97%</strong>" in html
    assert "speed: [1, 2, 3]<br" in html  # the critique's line-per-series blocks keep their lines
    assert "<script" not in html and "<img" not in html and "<a " not in html and "href" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "javascript:alert(3)" in html  # shown, as text
    csp = page.headers["content-security-policy"]
    assert "script-src 'none'" in csp and "default-src 'self'" in csp

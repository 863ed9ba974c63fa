"""``--dry-run``: the plan, the rounded step budget said out loud, and an estimate of every stage from named job times."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from rich.console import Console

from rewardsmith.agent.app.dry_run import JobRates, describe, dry_run, estimate, measure_rates, plan_for, stored_rates
from rewardsmith.agent.train.backends import SB3Backend
from rewardsmith.agent.train.plan import rollout_budget
from rewardsmith.envs.tasks import load_task
from tests.support.runs import copy_run


def test_a_budget_that_is_not_whole_rollouts_is_rounded_up_and_said() -> None:
    task = load_task("cartpole")  # 256 steps × 8 envs = 2,048 per rollout
    b = rollout_budget(task, 5000, "sb3")
    assert (b.steps, b.rollout, b.rounded) == (6144, 2048, True)
    assert "--steps 5,000 is trained as 6,144 steps" in b.note() and "256 steps × 8 envs" in b.note()
    assert not rollout_budget(task, 4096, "sb3").rounded and rollout_budget(task, 4096, "sb3").note() == ""


RATES = JobRates(steps_per_s=4096.0, train_start_s=2.0, evaluate_s=1.5, validate_s=0.5, video_s=4.0,
                 source="measured now: test")


def test_the_estimate_counts_every_stage_validation_training_evaluation_and_the_final_comparison() -> None:
    task = load_task("cartpole")
    plan = plan_for(task, backend="sb3", rounds=2, samples=4, steps=4096, workers=2, baselines=True, final_seeds=3)
    assert plan.trainings == 2 * 4 + 2 + 3 * 3
    # a pipeline: training 2 s + 4096 / 4096 s = 3 s, then its evaluation 1.5 s = 4.5 s; validations 0.5 s
    # round 1: 4 validations on 2 workers (1 s), 6 pipelines (3 waves: 13.5 s); round 2: 1 s + 2 waves (9 s);
    # final comparison: 9 pipelines on 2 workers (5 waves: 22.5 s), nothing to validate
    assert estimate(plan, RATES) == [("round 1", 14.5), ("round 2", 10.0), ("final comparison", 22.5)]
    text = "\n".join(describe(plan, task, "offline", RATES, cores=2, load=1.5))
    assert "19 trainings and their evaluations" in text and "measured now: test" in text and "~47 s" in text
    assert "final comparison ~22 s" in text and "an evaluation 1.5 s" in text and "at load 1.5 on 2 cores" in text
    # a run that records videos (a person reviews): each candidate's pipeline adds its video, baselines' do not
    with_videos = plan_for(task, backend="sb3", rounds=1, samples=2, steps=4096, workers=2, baselines=True, final_seeds=0, videos=True)
    assert estimate(with_videos, RATES) == [("round 1", 0.5 + 8.5 + 4.5)]


def test_dry_run_takes_job_times_from_earlier_runs(paused_run_template: Path, tmp_path: Path) -> None:
    copy_run(paused_run_template, tmp_path)
    task = load_task("cartpole")
    stored = stored_rates(task, tmp_path, "sb3")
    assert stored is not None and stored.steps_per_s > 0 and stored.source.startswith("stored:")
    assert stored.evaluate_s and stored.video_s and stored.validate_s  # the template run records videos
    assert stored_rates(load_task("pendulum"), tmp_path, "sb3") is None  # another task's runs are not a measurement
    assert stored_rates(task, tmp_path, "jax") is None  # nor runs on another backend
    out = io.StringIO()
    plan = plan_for(task, backend="sb3", rounds=1, samples=2, steps=5000, workers=1, baselines=False, final_seeds=0)
    assert dry_run(task, plan, "offline", tmp_path, Console(file=out, width=200), SB3Backend()) == 0
    text = out.getvalue()
    assert "stored: medians of" in text and "estimated time" in text and "6,144" in text


def test_with_no_earlier_run_the_jobs_are_timed_now_and_said(tmp_path: Path) -> None:
    task = load_task("cartpole")
    out = io.StringIO()
    plan = plan_for(task, backend="sb3", rounds=1, samples=1, steps=2048, workers=1, baselines=False, final_seeds=0)
    assert dry_run(task, plan, "offline", tmp_path / "none", Console(file=out, width=200), SB3Backend()) == 0
    text = out.getvalue()
    assert "measured now:" in text and "a sandboxed probe reward" in text and "its evaluation" in text, text
    rate = re.search(r"\(([\d,]+) steps/s after ([\d.]+) s of start-up\), an evaluation ([\d.]+) s", text)
    assert rate is not None and float(rate.group(1).replace(",", "")) > 0 and float(rate.group(3)) > 0
    assert not list(tmp_path.iterdir())  # nothing written under --out


def test_cli_version_and_dry_run_write_nothing(run_cli, paused_run_template: Path, tmp_path: Path) -> None:
    version = run_cli("--version", timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("rewardsmith ") and "stable-baselines3" in version.stdout
    copy_run(paused_run_template, tmp_path / "earlier")  # job times from an earlier run: nothing is timed now
    before = sorted(p.name for p in (tmp_path / "earlier").iterdir())
    proc = run_cli("run", "cartpole", "--steps", "5000", "--rounds", "2", "--samples", "2", "--dry-run",
                   "--out", str(tmp_path / "earlier"), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "6,144" in proc.stdout and "estimated time" in proc.stdout and "stored: medians" in proc.stdout
    assert "final comparison ~" in proc.stdout
    assert sorted(p.name for p in (tmp_path / "earlier").iterdir()) == before and not (tmp_path / "runs").exists()


@pytest.mark.slow  # ~1 min: a whole tiny run plus four retrainings
def test_a_run_reports_its_best_reward_over_fresh_training_seeds(run_cli, tmp_path: Path) -> None:
    proc = run_cli("run", "cartpole", "--rounds", "1", "--samples", "2", "--steps", "2048", "--no-baselines",
                   "--final-seeds", "2", "--workers", "2", timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "retrained on 2 fresh seeds" in proc.stdout and "env-steps" in proc.stdout
    run = next((tmp_path / "runs").iterdir())
    summary = json.loads((run / "summary.json").read_text())
    assert summary["final"]["seeds"] == [1, 2] and summary["final"]["designed"]["std"] is not None
    assert (run / "fitness.png").is_file() and list(run.glob("round_01/cand_*/training.png"))
    assert list(run.glob("round_01/cand_*/sb3/events.out.tfevents.*"))


def test_on_the_jax_backend_a_program_is_timed_and_the_estimate_grows_with_its_targets(tmp_path: Path) -> None:
    pytest.importorskip("jax")
    from rewardsmith.agent.train.backends import JaxBackend

    task = load_task("cartpole")
    rates = measure_rates(task, JaxBackend())
    assert rates.batched and rates.steps_per_s > 0 and rates.train_start_s > 0  # the compile is start-up, not rate
    assert "a 2-target program of jax" in rates.source
    small = plan_for(task, backend="jax", rounds=1, samples=2, steps=4096, workers=1, baselines=False, final_seeds=0)
    large = plan_for(task, backend="jax", rounds=1, samples=8, steps=4096, workers=1, baselines=False, final_seeds=0)
    per_target = 4096 / rates.steps_per_s
    (_, t_small), (_, t_large) = estimate(small, rates)[0], estimate(large, rates)[0]
    # one program per round: 6 more targets add their steps to it (and their validations and evaluations)
    assert t_large - t_small == pytest.approx(6 * (per_target + (rates.evaluate_s or 0) + (rates.validate_s or 0)))
    text = "\n".join(describe(small, task, "offline", rates, 2, 1.0))
    assert "in one program" in text and "env-steps/s over all its targets" in text

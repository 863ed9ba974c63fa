"""``--dry-run``: the plan, the rounded step budget said out loud, and an estimate from a named throughput."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from rewardsmith.agent.app.dry_run import Throughput, describe, dry_run, estimate_s, plan_for, stored_throughput
from rewardsmith.agent.train.plan import rollout_budget
from rewardsmith.envs.tasks import load_task
from tests.support.runs import copy_run


def test_a_budget_that_is_not_whole_rollouts_is_rounded_up_and_said() -> None:
    task = load_task("cartpole")  # 256 steps × 8 envs = 2,048 per rollout
    b = rollout_budget(task, 5000)
    assert (b.steps, b.rollout, b.rounded) == (6144, 2048, True)
    assert "--steps 5,000 is trained as 6,144 steps" in b.note() and "256 steps × 8 envs" in b.note()
    assert not rollout_budget(task, 4096).rounded and rollout_budget(task, 4096).note() == ""


def test_the_estimate_counts_waves_of_workers_and_the_final_seeds() -> None:
    task = load_task("cartpole")
    plan = plan_for(task, rounds=2, samples=4, steps=4096, workers=2, baselines=True, final_seeds=3)
    assert plan.trainings == 2 * 4 + 2 + 3 * 3
    # round 1: 6 trainings on 2 workers = 3 waves; round 2: 2 waves; final: 9 trainings = 5 waves; 1 s each
    assert estimate_s(plan, Throughput(steps_per_s=4096.0, source="x")) == 10.0
    lines = describe(plan, task, "offline", Throughput(steps_per_s=4096.0, source="measured now: test"), cores=2)
    text = "\n".join(lines)
    assert "19 trainings" in text and "measured now: test" in text and "~10 s" in text


def test_dry_run_takes_a_stored_throughput_from_earlier_runs(paused_run_template: Path, tmp_path: Path) -> None:
    copy_run(paused_run_template, tmp_path)
    task = load_task("cartpole")
    stored = stored_throughput(task, tmp_path)
    assert stored is not None and stored.steps_per_s > 0 and stored.source.startswith("stored:")
    assert stored_throughput(load_task("pendulum"), tmp_path) is None  # another task's runs are not a measurement
    out = io.StringIO()
    plan = plan_for(task, rounds=1, samples=2, steps=5000, workers=1, baselines=False, final_seeds=0)
    assert dry_run(task, plan, "offline", tmp_path, Console(file=out, width=200)) == 0
    text = out.getvalue()
    assert "stored: median of" in text and "estimated training time" in text and "6,144" in text


def test_with_no_earlier_run_the_throughput_is_measured_now_and_said(tmp_path: Path) -> None:
    task = load_task("cartpole")
    out = io.StringIO()
    plan = plan_for(task, rounds=1, samples=1, steps=2048, workers=1, baselines=False, final_seeds=0)
    assert dry_run(task, plan, "offline", tmp_path / "none", Console(file=out, width=200)) == 0
    assert "measured now:" in out.getvalue() and not list(tmp_path.iterdir())  # nothing written under --out


def test_cli_version_and_dry_run_write_nothing(run_cli, tmp_path: Path) -> None:
    version = run_cli("--version", timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("rewardsmith ") and "stable-baselines3" in version.stdout
    proc = run_cli("run", "cartpole", "--steps", "5000", "--rounds", "2", "--samples", "2", "--dry-run", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "6,144" in proc.stdout and "estimated training time" in proc.stdout and "measured now" in proc.stdout
    assert not (tmp_path / "runs").exists()


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

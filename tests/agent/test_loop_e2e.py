"""The whole loop end to end through the CLI, on a tiny budget, with a scripted designer."""

from __future__ import annotations

import json
from pathlib import Path

from rewardsmith.agent.rundir.store import RunStore

DATA = Path(__file__).resolve().parents[1] / "data" / "scripted_cartpole"
CAND_FILES = ("prompt.md", "response.md", "reward.py", "validation.json", "metrics.json", "fitness.json",
              "critique.md")


def _run_dir(out: Path) -> Path:
    (run_dir,) = list(out.iterdir())
    return run_dir


def test_two_rounds_with_baselines_leave_every_file_and_a_summary(run_cli, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    proc = run_cli("run", "cartpole", "--designer", f"scripted:{DATA}", "--rounds", "2", "--samples", "2",
                   "--steps", "1024", "--workers", "2", "--final-seeds", "1", "--out", str(out), check=True)
    assert "scripted designer" in proc.stdout and "RewardSmith summary" in proc.stdout
    assert "human-normalized score" in proc.stdout
    run_dir = _run_dir(out)
    assert (run_dir / "config.json").is_file()
    for rnd, (good, bad) in ((1, (1, 2)), (2, (1, 2))):
        rdir = run_dir / f"round_{rnd:02d}"
        assert (rdir / "feedback.json").is_file()
        for name in CAND_FILES:
            assert (rdir / f"cand_{good:02d}" / name).is_file(), f"round {rnd} cand {good}: {name} missing"
        rejected = json.loads((rdir / f"cand_{bad:02d}" / "validation.json").read_text())
        assert rejected["accepted"] is False
        assert not (rdir / f"cand_{bad:02d}" / "metrics.json").exists(), "a rejected candidate must not train"
    assert json.loads((run_dir / "round_01/cand_02/validation.json").read_text())["stage"] == "static"
    probe = json.loads((run_dir / "round_02/cand_02/validation.json").read_text())
    assert probe["stage"] == "probe" and probe["reason"] == "non_finite"
    # the second round's prompt carries the first round's best code and its critique
    prompt2 = (run_dir / "round_02/cand_01/prompt.md").read_text()
    assert "W_UPRIGHT" in prompt2 and "upright: [" in prompt2 and "r01c02: rejected (static)" in prompt2
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["finished"] is True and summary["best_id"] in ("r01c01", "r02c01")
    assert summary["best_heldout_fitness"] is not None
    assert {b["kind"] for b in summary["baselines"]} == {"human", "sparse"}
    assert all(b["heldout_fitness"] is not None for b in summary["baselines"])
    # Compute per round and in total, from every job's costs.json (the final seeds and baselines are in the total).
    assert all(r["env_steps"] > 0 and r["cpu_s"] > 0 for r in summary["rounds"])
    assert summary["cost"]["job_cpu_s"] > sum(r["cpu_s"] for r in summary["rounds"])
    assert (run_dir / "best_reward.py").read_text().startswith("import numpy")
    assert (run_dir / "baselines/human/fitness.json").is_file()


def test_training_that_times_out_is_recorded_and_the_run_still_finishes(run_cli, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    proc = run_cli("run", "cartpole", "--designer", f"scripted:{DATA}", "--rounds", "1", "--samples", "1",
                   "--steps", "100000000", "--train-timeout", "4", "--no-baselines", "--final-seeds", "0",
                   "--out", str(out))
    # The run finishes (summary written) but says, with a non-zero exit, that nothing was trained.
    assert proc.returncode == 1 and "error: no candidate was trained" in proc.stderr, proc.stderr
    run_dir = _run_dir(out)
    # The job was killed: it wrote no metrics.json; the orchestrator recorded how it died in failures.json.
    assert not (run_dir / "round_01/cand_01/metrics.json").exists()
    failures = json.loads((run_dir / "round_01/cand_01/failures.json").read_text())
    assert [(f["kind"], f["status"]) for f in failures["jobs"]] == [("train", "timeout")]
    training = RunStore(run_dir).outcome(RunStore(run_dir).files(1, 1)).training
    assert training is not None and training.status == "timeout"
    assert "timeout" in (run_dir / "round_01/cand_01/critique.md").read_text()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["best_id"] is None and summary["finished"] is True

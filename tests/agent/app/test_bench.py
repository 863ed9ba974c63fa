"""``rewardsmith bench``: HNS arithmetic and aggregation, the written table, and one tiny end-to-end bench."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import TypeAdapter

from rewardsmith.agent.app.commands.bench import (
    ArmScore,
    BenchOptions,
    BenchReport,
    TaskScore,
    _aggregate,
    to_markdown,
)
from rewardsmith.agent.report.final import score


def _arm(arm: str, *values: float | None) -> ArmScore:
    got = [v for v in values if v is not None]
    mean = sum(got) / len(got) if got else None
    std = (sum((v - mean) ** 2 for v in got) / len(got)) ** 0.5 if mean is not None else None
    return ArmScore(arm=arm, seeds=tuple(range(1, len(values) + 1)),  # type: ignore[arg-type]
                    status=tuple("ok" if v is not None else "crashed" for v in values), heldout=tuple(values), mean=mean, std=std)


def _task(name: str, hns: float | None, designed: ArmScore | None = None, meaningful: bool = True) -> TaskScore:
    d = designed or _arm("designed", 1.0)
    return TaskScore(task=name, env="Env-v0", fitness="m: what it measures", steps=1000, design_dir="/x", best_id="r01c01", candidates=4, candidates_trained=4, selection_fitness=2.0, design_heldout_fitness=1.8, designed=d,
                     human=_arm("human", 1.0), sparse=_arm("sparse", 0.0), hns=hns, hns_std=None, hns_note="note", gap=0.5, wall_s=60.0, load_avg=(0.1, 0.2),
                     hns_meaningful=meaningful)


def task_hns(designed: ArmScore, human: ArmScore, sparse: ArmScore) -> tuple[float | None, float | None, str, bool]:
    s = score(designed.seeds, 1000, designed, human, sparse)
    return s.hns, s.hns_std, s.note, s.hns_meaningful


def test_hns_is_on_the_means_with_its_spread_over_every_arms_seeds() -> None:
    value, spread, note, meaningful = task_hns(_arm("designed", 3.0, 5.0), _arm("human", 2.0, 2.0),
                                               _arm("sparse", 0.0, 0.0))
    assert value == pytest.approx(2.0) and meaningful  # (4 - 0) / |2 - 0|
    assert spread is not None and 0.3 < spread < 0.6  # the designed seeds' 1.5 and 2.5, resampled
    assert "noise" not in note
    # human below sparse: the number is defined, but the scale points the wrong way and the bench says so
    value, _, note, meaningful = task_hns(_arm("designed", 3.0), _arm("human", -2.0), _arm("sparse", 1.0))
    assert value == pytest.approx(2.0 / 3.0) and not meaningful and "worse than the sparse reward" in note


def test_hns_says_when_the_baselines_are_within_their_noise() -> None:
    value, _, note, meaningful = task_hns(_arm("designed", 1.0), _arm("human", 0.5, 1.5), _arm("sparse", 0.2, 0.6))
    assert value is not None and not meaningful and "divide by noise" in note


def test_hns_is_undefined_without_a_designed_reward_or_a_baseline_gap() -> None:
    assert task_hns(_arm("designed", None), _arm("human", 1.0), _arm("sparse", 0.0))[0] is None
    value, spread, note, _ = task_hns(_arm("designed", 1.0), _arm("human", 0.3), _arm("sparse", 0.3))
    assert value is None and spread is None and "undefined" in note


def test_aggregate_clips_to_eureka_range_and_counts_tasks_at_human_level(tmp_path: Path) -> None:
    scores = [_task("a", 5.0), _task("b", -1.0), _task("c", 1.0), _task("d", None), _task("e", 9.0, meaningful=False)]
    report = _aggregate(BenchOptions(tasks=("a",), out_dir=tmp_path), scores, "rewardsmith bench a", "offline", 10.0)
    assert report.mean_hns_clipped == pytest.approx((3.0 + 0.0 + 1.0) / 3)
    assert report.mean_hns == pytest.approx((5.0 - 1.0 + 1.0) / 3)
    assert report.tasks_hns_at_least_1 == 2 and report.tasks_scored == 3


def test_markdown_names_command_machine_and_failed_seeds(tmp_path: Path) -> None:
    scores = [_task("halfcheetah", 0.5, _arm("designed", 1.0, None, 2.0)), _task("hopper", None)]
    report = _aggregate(BenchOptions(tasks=("halfcheetah", "hopper"), out_dir=tmp_path, seeds=3), scores,
                        "rewardsmith bench halfcheetah hopper --seeds 3", "offline designer", 10.0)
    text = to_markdown(report)
    assert "`rewardsmith bench halfcheetah hopper --seeds 3`" in text
    assert report.machine in text and "training seeds 1…3" in text
    assert "1.5 ± 0.5 (1 of 3 seeds failed)" in text
    hopper_row = next(ln for ln in text.splitlines() if ln.startswith("| hopper | sb3 | 1,000 |"))
    assert "| – |" in hopper_row  # undefined HNS is a dash, never a made-up number


def test_tiny_bench_end_to_end_and_continue(tmp_path: Path, run_cli) -> None:
    """On the jax backend (sb3's trainings are the run loop's own end-to-end tests): the design round and the
    final comparison each one program on native physics, scored and written, then continued without retraining."""
    pytest.importorskip("jax")
    bench_dir = tmp_path / "bench"
    args = ("bench", "reacher", "--backend", "jax", "--rounds", "1", "--samples", "1", "--seeds", "1", "--steps",
            "2048", "--workers", "2", "--dir", str(bench_dir), "--json")
    proc = run_cli(*args, timeout=300, check=True)
    report = TypeAdapter(BenchReport).validate_json(proc.stdout)  # stdout is the JSON document alone
    (score,) = report.tasks
    assert score.backend == "jax" and "backend: jax" in proc.stderr
    for arm in (score.designed, score.human, score.sparse):
        assert arm.status == ("ok",) and arm.seeds == (1,) and arm.mean is not None
    assert score.selection_fitness is not None and score.best_id == "r01c01"
    assert score.gap == pytest.approx(score.selection_fitness - score.designed.mean)
    assert json.loads((bench_dir / "bench.json").read_text())["tasks"][0]["task"] == "reacher"
    assert "--backend jax" in json.loads((bench_dir / "bench.json").read_text())["command"]
    md = (bench_dir / "bench.md").read_text()
    assert "| reacher | jax | 2,048 |" in md and "design loop: 1 rounds × 1 candidates" in md and "CPU-min /" in md
    # Compute of the design loop and of the final comparison, from the jobs' costs.json.
    assert score.design_compute.env_steps >= 2048 and score.design_compute.cpu_s > 0
    assert score.final_compute.env_steps >= 3 * 2048 and score.final_compute.cpu_s > 0
    assert (bench_dir / "reacher" / "design" / "config.json").is_file()
    # the final comparison's three arms trained in one program, each policy the jax backend's
    assert (bench_dir / "reacher/final/jax_round_job.json").is_file()
    for arm in ("designed", "human", "sparse"):
        metrics = json.loads((bench_dir / f"reacher/final/{arm}/seed_1/metrics.json").read_text())
        assert metrics["policy"]["format"] == "jax", metrics

    policies = sorted(bench_dir.glob("reacher/**/policy.npz"))
    assert len(policies) == 4  # one candidate + designed, human, sparse on seed 1
    stamps = [p.stat().st_mtime_ns for p in policies]
    again = TypeAdapter(BenchReport).validate_json(run_cli(*args, timeout=300, check=True).stdout)
    assert [p.stat().st_mtime_ns for p in policies] == stamps  # nothing was trained again
    assert again.tasks[0].designed == score.designed and again.tasks[0].hns == score.hns

    other = run_cli("bench", "reacher", "--backend", "jax", "--rounds", "1", "--samples", "1", "--seeds", "2",
                    "--steps", "2048", "--dir", str(bench_dir), timeout=120)
    assert other.returncode == 2 and other.stderr.startswith("error: ") and "other options" in other.stderr

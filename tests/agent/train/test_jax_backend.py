"""The jax backend end to end: a run whose round trains in one compiled program, then evaluates as the sb3 one does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

DATA = Path(__file__).resolve().parents[2] / "data" / "scripted_cartpole"


def test_a_jax_backend_run_trains_the_round_in_one_program_and_evaluates_on_gymnasium(run_cli, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    proc = run_cli("run", "cartpole", "--backend", "jax", "--designer", f"scripted:{DATA}", "--rounds", "1",
                   "--samples", "2", "--steps", "1024", "--final-seeds", "0", "--out", str(out), timeout=600, check=True)
    assert "backend: jax" in proc.stdout and "compiled in" in proc.stdout
    (run_dir,) = out.iterdir()
    cand = run_dir / "round_01" / "cand_01"
    # The trainer got the candidate as a checked jax.export module, never as Python.
    assert (cand / "reward.jaxexport").stat().st_size > 0
    info = json.loads((cand / "reward_jax.json").read_text())
    assert info["components"] and set(info["constants"]) <= set((cand / "reward.py").read_text().split())
    stats = json.loads((run_dir / "round_01" / "jax_round.json").read_text())
    assert stats["arms"] == 3 and stats["compile_s"] > 0  # one candidate (the other is refused) + two baselines
    metrics = json.loads((cand / "metrics.json").read_text())
    assert metrics["status"] == "ok" and metrics["checkpoints"] and set(metrics["components"]) == set(info["components"])
    assert metrics["policy"]["format"] == "jax"  # the policy file says what it is in its own record
    for arm in (cand, run_dir / "baselines" / "human"):  # TensorBoard events per arm, as the SB3 backend writes
        events = EventAccumulator(str(arm / "sb3"))
        events.Reload()
        assert {"task/episode_length", "task/fitness", "train/value_loss"} <= set(events.Tags()["scalars"])
    upright = [e.value for e in EventAccumulator(str(cand / "sb3")).Reload().Scalars("reward/upright")]
    assert upright == pytest.approx([cp["component_step_means"]["upright"] for cp in metrics["checkpoints"]])
    fitness = json.loads((cand / "fitness.json").read_text())  # scored by the task's fitness on Gymnasium episodes
    assert len(fitness["heldout"]["values"]) == 10
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["best_id"] == "r01c01" and all(b["heldout_fitness"] is not None for b in summary["baselines"])
    jobs = json.loads((cand / "costs.json").read_text())["jobs"]  # the round program's share, then the evaluation
    assert [j["kind"] for j in jobs] == ["jax_round", "evaluate"] and jobs[0]["env_steps"] > 0 and jobs[0]["cpu_s"] > 0


HOLD_RIGHT = Path(__file__).resolve().parents[3] / "examples" / "cartpole-hold-right" / "cartpole-hold-right.toml"


def test_a_task_with_its_own_fitness_is_not_refused_for_its_sparse_baseline() -> None:
    from rewardsmith.agent.records.config import RunConfig
    from rewardsmith.agent.train.backends.jax import JaxBackend
    from rewardsmith.envs.tasks import load_task

    task = load_task(str(HOLD_RIGHT))
    JaxBackend().check(task, RunConfig(task=str(task.source)))  # it said "the sparse baseline needs a built-in metric"


@pytest.mark.slow  # a whole jax run (~40 s)
def test_a_task_with_its_own_fitness_trains_both_baselines_and_gets_training_curves_on_jax(
        run_cli, tmp_path: Path, monkeypatch) -> None:
    """`run MY_TASK.toml --backend jax` stopped at "the sparse baseline needs a built-in fitness metric" (issue 21), and
    the round plot's fitness axis said "no data yet" for a task's own fitness function (issue 26)."""
    from rewardsmith.agent.report import plots
    from rewardsmith.agent.rundir.store import RunStore

    out = tmp_path / "runs"
    run_cli("run", str(HOLD_RIGHT), "--backend", "jax", "--designer", "offline", "--rounds", "1",
            "--samples", "2", "--steps", "4096", "--final-seeds", "0", "--out", str(out), timeout=600, check=True)
    (run_dir,) = out.iterdir()
    for kind in ("human", "sparse"):  # both baselines trained in the round's program, scored by the task's function
        baseline = run_dir / "baselines" / kind
        assert json.loads((baseline / "metrics.json").read_text())["status"] == "ok"
        assert len(json.loads((baseline / "fitness.json").read_text())["heldout"]["values"]) == 10
    sparse = json.loads((run_dir / "baselines" / "sparse" / "metrics.json").read_text())["checkpoints"]
    paid = [cp for cp in sparse if cp["episodes"]]  # paid the task's fitness at each episode end, on the host
    assert paid and all(cp["reward_return"] == pytest.approx(cp["fitness"]) for cp in paid)
    cand = run_dir / "round_01" / "cand_01"
    checkpoints = json.loads((cand / "metrics.json").read_text())["checkpoints"]
    assert checkpoints and all(cp["fitness"] is not None for cp in checkpoints if cp["episodes"])
    events = EventAccumulator(str(cand / "sb3")).Reload()
    assert len(events.Scalars("task/fitness")) == len(checkpoints)
    drawn: list[list[str]] = []  # each axis of the round plot: the labels of what it shows

    def finish(fig, axes, x_label="environment steps"):
        drawn.extend([ax.get_legend_handles_labels()[1] for ax in axes])
        return b""

    monkeypatch.setattr(plots, "_finish", finish)
    store = RunStore(run_dir)
    plots.round_compare_png(store, store.round_results(1), "round 1")
    # fitness, episode length, own return: a curve on each, none "no data yet"
    assert len(drawn) == 3 and all("r01c01" in labels for labels in drawn)

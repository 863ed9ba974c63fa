"""Tuning a reward's named constants: the Optuna study, its pruning, resuming after a kill, the held-out check."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import sqlalchemy.exc

from rewardsmith.agent.rundir.store import RunStore
from rewardsmith.agent.tune.constants import reward_constants
from rewardsmith.agent.tune.tuner import load_result, values_key
from tests.support.tune_fake import CODE, tuner

ROOT = Path(__file__).resolve().parents[3]


def _calls(root: Path) -> list[str]:
    return (root / "calls.log").read_text().splitlines() if (root / "calls.log").is_file() else []


def test_a_study_seeds_tpe_with_the_designers_values_and_finds_better_constants(tmp_path: Path) -> None:
    result = tuner(tmp_path, trials=14).run()
    assert result.trials[0].values == {"W_A": 1.0, "W_B": -0.5, "N_SKIP": 3.0}  # the enqueued designer's trial
    assert {p.name for p in result.space} == {"W_A", "W_B", "N_SKIP"}  # TARGET_X stays fixed
    assert all(v < 0 for v in (t.values["W_B"] for t in result.trials))  # a penalty stays a penalty
    assert result.tuned_heldout is not None and result.untuned_heldout is not None
    assert result.improved and result.tuned_heldout > result.untuned_heldout
    assert any(t.state == "pruned" for t in result.trials)  # successive halving stopped some at the first rung
    tuned = (tmp_path / "tune" / "reward" / "tuned_reward.py").read_text()
    assert tuned.replace(str(reward_constants(tuned)), "") != CODE
    assert "-W_A = 1.0   # a weight" in result.diff and "# a weight" in tuned  # same structure, comments kept
    assert tuned.count("\n") == CODE.count("\n")
    assert load_result(RunStore(tmp_path).tune_files("reward")) == result
    assert result.env_steps >= 14 * 300


def test_a_tune_killed_mid_study_resumes_without_redoing_finished_trials(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, str(ROOT / "tests" / "support" / "tune_fake.py"), str(tmp_path), "8", "0.4"], cwd=ROOT,
                             start_new_session=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    study_file = tmp_path / "tune" / "reward" / "study.db"
    deadline = time.monotonic() + 60
    finished: list[optuna.trial.FrozenTrial] = []
    while time.monotonic() < deadline and len(finished) < 3:
        time.sleep(0.2)
        if study_file.is_file():
            # The child creates the file first and its schema next: reading it in between would race the
            # child's own set-up (both would write the schema version), so wait and retry on any DB error.
            time.sleep(1.0)
            try:
                study = optuna.load_study(study_name="constants", storage=f"sqlite:///{study_file}")
            except (KeyError, sqlalchemy.exc.SQLAlchemyError):
                continue
            finished = [t for t in study.trials if t.state.is_finished()]
    os.killpg(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    assert len(finished) >= 3, "the child finished no trials in time"
    before = _calls(tmp_path)
    result = tuner(tmp_path, trials=8).run()
    after = _calls(tmp_path)[len(before):]
    done_keys = {t.user_attrs["key"] for t in finished}
    redone = [c for c in after if c.split("/")[0][6:] in done_keys]
    assert redone == [], f"finished trials trained again: {redone}"
    assert sum(t.state in ("complete", "pruned") for t in result.trials) == 8
    assert values_key(result.untuned_values) in {t.user_attrs["key"] for t in finished}


def test_a_range_override_and_a_fixed_constant_shape_the_space(tmp_path: Path) -> None:
    from rewardsmith.agent.rundir.store import RunStore as Store
    from rewardsmith.agent.tune.tuner import Tuner, TuneSettings
    from tests.support.tune_fake import fake_evaluate

    t = Tuner(CODE, "test", Store(tmp_path), "x", 900,
              TuneSettings(trials=3, overrides={"W_A": "0.5:8", "N_SKIP": "fixed"}), fake_evaluate(tmp_path / "c.log"))
    assert [(p.name, p.low, p.high) for p in t.space] == [("W_A", 0.5, 8.0), ("W_B", 0.125, 2.0)]
    result = t.run()
    assert all(0.5 <= tr.values["W_A"] <= 8.0 for tr in result.trials)


@pytest.mark.slow
def test_tune_trains_real_trials_on_cartpole_and_resumes_after_sigkill(tmp_path: Path) -> None:
    """The real thing: trials trained by SB3 jobs through the executor; the command killed mid-study and run again."""
    reward = tmp_path / "r.py"
    reward.write_text("import numpy as np\n\nW_UP = 1.0\nW_POS = 0.1\n\n\ndef compute_reward(state, action):\n"
                      "    up = W_UP * np.cos(state.pole_angle)\n    pos = -W_POS * np.abs(state.cart_position)\n"
                      "    return up + pos, {\"up\": up, \"pos\": pos}\n")
    out = tmp_path / "tune_dir"
    cmd = [sys.executable, "-m", "rewardsmith.agent.app.commands.tune", str(reward), "cartpole", "--dir", str(out), "--trials", "4",
           "--steps", "2048", "--workers", "1", "--allow-weak-sandbox"]
    child = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True)
    study_file = out / "tune" / "reward" / "study.db"
    deadline = time.monotonic() + 600
    finished = 0
    while time.monotonic() < deadline and finished < 1 and child.poll() is None:
        time.sleep(1.0)
        if study_file.is_file():
            with contextlib.suppress(KeyError):
                finished = sum(t.state.is_finished() for t in optuna.load_study(
                    study_name="constants", storage=f"sqlite:///{study_file}").trials)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    assert finished >= 1
    trained = {p: p.stat().st_mtime for p in out.glob("tune/reward/trial_*/rung_*/metrics.json")}
    assert subprocess.run(cmd, cwd=ROOT, timeout=900).returncode == 0
    for p, mtime in trained.items():
        assert p.stat().st_mtime == mtime, f"{p} was trained again"
    assert (out / "tune" / "reward" / "tuned_reward.py").is_file()


def test_the_tuned_selection_joins_the_next_round_as_candidate_k_plus_2(tmp_path: Path) -> None:
    from rewardsmith.agent.next_round import tuned_entry
    from rewardsmith.agent.records.results import RoundFeedback
    from rewardsmith.agent.tune.tuner import Tuner, TuneSettings
    from tests.support.tune_fake import fake_evaluate

    store = RunStore(tmp_path)
    feedback = RoundFeedback(round=1, best_id="r01c01", best_fitness=1.0, summary="")
    assert tuned_entry(2, 2, feedback, store) == []  # not tuned yet
    Tuner(CODE, "r01c01", store, "r01c01", 900, TuneSettings(trials=6), fake_evaluate(tmp_path / "c.log")).run()
    [cand] = tuned_entry(2, 2, feedback, store)
    assert (cand.id, cand.index, cand.parent) == ("r02c04", 4, "r01c01")
    assert cand.code == (store.tune_files("r01c01").tuned).read_text() and cand.code != CODE
    assert store.has_candidate(2, 4) and "```diff" in store.load_response(cand)
    assert tuned_entry(2, 2, feedback, store) == [cand]  # resumed: the same candidate, not a new one


def test_a_batch_of_trials_trains_each_rung_in_one_call(tmp_path: Path) -> None:
    from rewardsmith.agent.tune.tuner import Tuner, TuneSettings
    from tests.support.tune_fake import fake_evaluate

    t = Tuner(CODE, "test", RunStore(tmp_path), "reward", 2700, TuneSettings(trials=6, rungs=2, batch=3),
              fake_evaluate(tmp_path / "calls.log"))
    result = t.run()
    assert sum(tr.state in ("complete", "pruned") for tr in result.trials) == 6
    calls = [c.split() for c in _calls(tmp_path)]
    first_rung = [c for c in calls if c[1] == "900"]
    # Six trials at rung 0 in two batches of three: two calls (batch folders), each with three trials.
    assert sorted(sum(c[2] == b for c in first_rung) for b in {c[2] for c in first_rung}) == [3, 3]
    assert all(c[2].startswith("batch-0-") for c in first_rung)
    last = [c for c in calls if c[1] == "2700"]
    assert last and all(c[2].startswith("batch-1-") for c in last)
    # The untuned and the tuned constants were checked together at the full budget (one call), or reused.
    assert len({c[2] for c in last}) <= 3


@pytest.mark.slow
def test_tune_on_the_jax_backend_trains_a_batch_in_one_program(tmp_path: Path) -> None:
    """Real trials: each trial's reward exported in the sandbox, a rung's batch trained by one jax_round job."""
    pytest.importorskip("jax")
    reward = tmp_path / "r.py"
    reward.write_text("import numpy as np\n\nW_UP = 1.0\nW_POS = 0.1\n\n\ndef compute_reward(state, action):\n"
                      "    up = W_UP * np.cos(state.pole_angle)\n    pos = -W_POS * np.abs(state.cart_position)\n"
                      "    return up + pos, {\"up\": up, \"pos\": pos}\n")
    out = tmp_path / "tune_dir"
    cmd = [sys.executable, "-m", "rewardsmith.agent.app.commands.tune", str(reward), "cartpole", "--dir", str(out),
           "--trials", "4", "--batch", "4", "--rungs", "2", "--steps", "8192", "--backend", "jax", "--workers", "2",
           "--allow-weak-sandbox"]
    done = subprocess.run(cmd, cwd=ROOT, timeout=900, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    study = out / "tune" / "reward"
    batches = sorted(p.name for p in study.glob("batch-*") if (p / "jax_round.json").is_file())
    assert batches and batches[0].startswith("batch-0-")
    import json

    first = json.loads((study / batches[0] / "jax_round.json").read_text())
    assert first["arms"] == 4  # the four trials of rung 0 in one compiled program
    assert len(list(study.glob("trial_*/reward.jaxexport"))) >= 4
    assert (study / "tuned_reward.py").is_file() and "batches of 4" in done.stdout
    # Training time: each program's wall time once, shared by its trials (not once per trial).
    result = json.loads((study / "tune.json").read_text())
    programs = sum(json.loads((study / b / "jax_round.json").read_text())["compile_s"]
                   + json.loads((study / b / "jax_round.json").read_text())["run_s"] for b in batches)
    assert programs <= result["train_wall_s"] <= result["wall_s"]


@pytest.mark.slow
def test_a_run_with_tune_killed_mid_study_resumes_without_redoing_finished_trials(tmp_path: Path) -> None:
    """``run --tune`` killed (SIGKILL to its process group) while the study runs; ``resume`` finishes it."""
    out = tmp_path / "runs"
    args = [sys.executable, "-m", "rewardsmith.agent.app.cli", "run", "cartpole", "--rounds", "2", "--samples", "2",
            "--steps", "2048", "--workers", "1", "--no-baselines", "--final-seeds", "0", "--tune", "--tune-trials", "4",
            "--allow-weak-sandbox", "--out", str(out)]
    child = subprocess.Popen(args, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, finished = time.monotonic() + 600, 0
    study_files: list[Path] = []
    while time.monotonic() < deadline and finished < 1 and child.poll() is None:
        time.sleep(1.0)
        study_files = list(out.glob("*/tune/*/study.db"))
        if study_files:
            with contextlib.suppress(KeyError, sqlalchemy.exc.OperationalError):
                finished = sum(t.state.is_finished() for t in optuna.load_study(
                    study_name="constants", storage=f"sqlite:///{study_files[0]}").trials)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    assert finished >= 1, "no trial finished before the deadline"
    study_dir = study_files[0].parent
    assert not (study_dir / "tune.json").exists(), "the study had already finished: nothing was killed mid-study"
    trained = {p: p.stat().st_mtime for p in study_dir.glob("trial_*/rung_*/metrics.json")}
    run_dir = study_dir.parents[1]
    done = subprocess.run([sys.executable, "-m", "rewardsmith.agent.app.cli", "resume", str(run_dir)], cwd=ROOT,
                          timeout=900, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    for p, mtime in trained.items():
        assert p.stat().st_mtime == mtime, f"{p} was trained again"
    assert (study_dir / "tune.json").is_file() and (run_dir / "summary.json").is_file()
    study = optuna.load_study(study_name="constants", storage=f"sqlite:///{study_dir / 'study.db'}")
    assert sum(t.state.name in ("COMPLETE", "PRUNED") for t in study.trials) >= 4

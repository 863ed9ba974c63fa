"""The right party is blamed: a broken task fitness function ends the run with one line, not every candidate.

A fitness function that hangs is caught before any training (it runs in a child process with a
deadline); one that fails only on training episodes stops the run with ``error: the task's fitness
function …`` instead of being charged to each candidate as a crash.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
REWARD = REPO / "tests" / "data" / "scripted_cartpole" / "01_upright.py"


def _task(tmp_path: Path, fitness_code: str, timeout_s: int = 600) -> Path:
    (tmp_path / "fit.py").write_text(fitness_code)
    task = tmp_path / "cartpole-custom.toml"
    task.write_text(f'''name = "cartpole-custom"
env = "CartPole-v1"
description = "Balance the pole."
fitness = "fit.py:score"

[train]
steps = 2048
n_envs = 8
timeout_s = {timeout_s}
ppo = {{ n_steps = 256, batch_size = 256 }}

[eval]
selection_episodes = 2
heldout_episodes = 2
''')
    return task


def _designer(tmp_path: Path) -> str:
    d = tmp_path / "script"
    d.mkdir()
    (d / "01.py").write_text(REWARD.read_text())
    return f"scripted:{d}"


@pytest.mark.slow  # waits out the 60 s bound; tests/envs/test_fitness_check.py checks the same deadline in seconds
def test_a_fitness_function_that_hangs_at_import_ends_the_run_within_its_bound(run_cli, tmp_path: Path) -> None:
    task = _task(tmp_path, "while True:\n    pass\n")
    started = time.monotonic()
    proc = run_cli("run", str(task), "--designer", _designer(tmp_path), "--rounds", "1", "--samples", "1",
                   "--no-baselines", "--final-seeds", "0", "--out", str(tmp_path / "runs"), timeout=240)
    assert time.monotonic() - started < 200  # the check's deadline is 60 s; before, this never returned
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and "fitness" in lines[-1] and "Traceback" not in proc.stderr


@pytest.mark.parametrize("where", ["training", "evaluation"])
def test_a_fitness_function_that_fails_in_a_job_is_blamed_not_the_candidate(run_cli, tmp_path: Path,
                                                                             where: str) -> None:
    # It works on the sample episodes checked before training, and fails only inside one kind of job process
    # (``python -m envs.jobs train|evaluate …``).
    kind = "train" if where == "training" else "evaluate"
    code = ("import sys\n"
            "def score(episode):\n"
            f"    if sys.argv[0].endswith('jobs.py') and sys.argv[1:2] == [{kind!r}]:\n"
            "        raise RuntimeError('the scorer is broken')\n"
            "    return float(len(episode.actions))\n")
    task = _task(tmp_path, code)
    proc = run_cli("run", str(task), "--designer", _designer(tmp_path), "--rounds", "1", "--samples", "1",
                   "--no-baselines", "--final-seeds", "0", "--out", str(tmp_path / "runs"), timeout=300)
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: the task's fitness function failed") and "the scorer is broken" in last
    assert "Traceback" not in proc.stderr


@pytest.mark.slow  # a jax round (~30 s)
def test_a_fitness_function_that_fails_in_a_jax_rounds_fitness_child_stops_the_run(run_cli, tmp_path: Path) -> None:
    """On jax the task's function scores the round's training episodes (the sparse baseline's pay) in a child of the
    round's job: its failure there is the task's, as in any job, not the round's candidates'."""
    code = ("import sys\n"
            "def score(episode):\n"
            "    if sys.argv[0].endswith('scoring.py'):\n"
            "        raise RuntimeError('the scorer is broken')\n"
            "    return float(len(episode.actions))\n")
    task = _task(tmp_path, code)
    proc = run_cli("run", str(task), "--backend", "jax", "--designer", _designer(tmp_path), "--rounds", "1",
                   "--samples", "1", "--final-seeds", "0", "--out", str(tmp_path / "runs"), timeout=300)
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: the task's fitness function failed") and "the scorer is broken" in last
    assert "Traceback" not in proc.stderr


def test_evaluate_exits_non_zero_when_every_seed_failed(run_cli, tmp_path: Path) -> None:
    task = _task(tmp_path, "def score(episode):\n    return float(len(episode.actions))\n", timeout_s=1)
    proc = run_cli("evaluate", str(task), str(REWARD), "--seeds", "2", "--steps", "2048", "--workers", "2",
                   "--out", str(tmp_path / "runs"), timeout=240)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "error: every training seed failed (timeout)" in proc.stderr

"""The command line: bad input ends in one error line and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

GOOD = Path(__file__).resolve().parents[2] / "data" / "scripted_cartpole" / "01_upright.py"
BAD = Path(__file__).resolve().parents[2] / "data" / "scripted_cartpole" / "02_imports_os.py"


def _one_error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ") and "Traceback" not in stderr
    return lines[0]


def test_tasks_lists_builtin_tasks_with_fields(run_cli) -> None:
    proc = run_cli("tasks", check=True)
    for text in ("cartpole", "pendulum", "mountain-car", "state.pole_angle: (B,)", "state.velocity"):
        assert text in proc.stdout
    data = json.loads(run_cli("tasks", "--json", check=True).stdout)
    assert {"cartpole", "mountain-car", "pendulum"} <= {t["name"] for t in data}


def test_unknown_task(run_cli) -> None:
    proc = run_cli("run", "moon-lander")
    assert proc.returncode == 2
    assert "unknown task 'moon-lander'" in _one_error_line(proc.stderr)


def test_malformed_task_file(run_cli, tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text('name = "x"\nenv = "CartPole-v1"\n')
    proc = run_cli("run", "bad.toml")
    assert proc.returncode == 2
    line = _one_error_line(proc.stderr)
    assert "bad.toml" in line and "field 'description'" in line


def test_fitness_that_raises_stops_the_run_before_any_training(run_cli, tmp_path: Path) -> None:
    (tmp_path / "fit.py").write_text("def f(episode):\n    return 1 / 0\n")
    (tmp_path / "t.toml").write_text('name = "t"\nenv = "CartPole-v1"\ndescription = "balance"\n'
                                     'fitness = "fit.py:f"\n[train]\nsteps = 1024\n')
    proc = run_cli("run", "t.toml", "--out", "runs")
    assert proc.returncode == 2
    assert "ZeroDivisionError" in _one_error_line(proc.stderr)
    assert not list((tmp_path / "runs").rglob("metrics.json"))


def test_bad_option_values(run_cli) -> None:
    proc = run_cli("run", "cartpole", "--rounds", "0")
    assert proc.returncode == 2 and "--rounds must be at least 1" in _one_error_line(proc.stderr)


def test_resume_of_a_directory_that_is_not_a_run(run_cli, tmp_path: Path) -> None:
    proc = run_cli("resume", str(tmp_path))
    assert proc.returncode == 2 and "not a RewardSmith run directory" in _one_error_line(proc.stderr)


def test_validate_exit_codes_and_json(run_cli) -> None:
    good = run_cli("validate", "cartpole", str(GOOD), "--json")
    assert good.returncode == 0
    report = json.loads(good.stdout)
    assert report["accepted"] is True and report["components"] == ["upright", "centre"]
    bad = run_cli("validate", "cartpole", str(BAD), "--json")
    assert bad.returncode == 1
    report = json.loads(bad.stdout)
    assert report["accepted"] is False and report["stage"] == "static" and "'os'" in report["message"]
    missing = run_cli("validate", "cartpole", "nope.py")
    assert missing.returncode == 2 and "cannot read nope.py" in _one_error_line(missing.stderr)

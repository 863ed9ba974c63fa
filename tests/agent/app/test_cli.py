"""The command line: bad input ends in one error line and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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
    (tmp_path / "runs").mkdir()  # an existing runs folder stays, and holds no run that never started (issue 26)
    proc = run_cli("run", "t.toml", "--out", "runs")
    assert proc.returncode == 2
    assert "ZeroDivisionError" in _one_error_line(proc.stderr)
    assert list((tmp_path / "runs").iterdir()) == []


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


# -- bad options: one line, exit 2, nothing started (issue 24) ----------------------------------------------------
def _float_flags() -> list[str]:
    import dataclasses
    import typing

    from rewardsmith.agent.app.options import option_name
    from rewardsmith.agent.records.config import LLMOptions, RunConfig

    flags = []
    for cls in (RunConfig, LLMOptions):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            cli = f.metadata.get("flag") is None or f.metadata["flag"].cli
            if cli and hints[f.name] in (float, float | None):
                flags.append(option_name(f))
    return flags


def _main_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    from rewardsmith.agent.app.cli import main

    try:
        code = main(list(argv))
    except SystemExit as exit_:  # argparse's own refusals
        code = int(exit_.code or 0)
    assert code == 2
    return _one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("flag", _float_flags())
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_every_float_option_refuses_nan_and_inf(flag: str, value: str, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    line = _main_error(capsys, "run", "cartpole", f"{flag}={value}", "--dry-run", "--out", str(tmp_path / "runs"))
    assert f"{flag} must be a finite number, got {value}" in line
    assert not (tmp_path / "runs").exists()


def test_the_float_options_include_the_timeouts() -> None:
    assert {"--call-timeout", "--train-timeout", "--review-timeout", "--llm-timeout", "--first-rung"} <= set(_float_flags())


@pytest.mark.parametrize(("argv", "expected"), [
    (["--halving", "1"], "--halving must be at least 2, got 1"),
    (["--first-rung", "1.5"], "--first-rung must be less than 1, got 1.5"),
    (["--call-timeout", "0"], "--call-timeout must be more than 0 s, got 0 s"),
    (["--call-timeout", "1e300"], "--call-timeout must be at most 86400 s"),
    (["--samples", str(10**25)], "--samples must be at most 1000"),
    (["--llm-timeout", "-1"], "--llm-timeout must be more than 0 s, got -1 s"),
    (["--rounds", "abc"], "argument --rounds: invalid int value: 'abc'"),
])
def test_out_of_bounds_options_are_refused_before_anything_runs(argv: list[str], expected: str, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    line = _main_error(capsys, "run", "cartpole", *argv, "--out", str(tmp_path / "runs"))
    assert expected in line
    assert not (tmp_path / "runs").exists()


def test_absurd_rounds_with_dry_run_are_refused_at_once(run_cli, tmp_path: Path) -> None:
    proc = run_cli("run", "cartpole", "--rounds", str(10**25), "--dry-run", timeout=60)  # it used to spin
    assert proc.returncode == 2 and "--rounds must be at most 1000" in _one_error_line(proc.stderr)


@pytest.mark.parametrize("out", ["a_file", "a_file/sub"])
def test_out_naming_a_file_is_one_line(out: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a_file").write_text("keep me")
    line = _main_error(capsys, "run", "cartpole", "--out", str(tmp_path / out))
    assert "not a folder" in line
    assert (tmp_path / "a_file").read_text() == "keep me"


ACROBOT_TASK = ('name = "acrobot-up"\nenv = "Acrobot-v1"\nadapter = "acrobot.py:AcrobotAdapter"\n'
                'description = "Swing the tip up."\nfitness = "env_return"\n[train]\nsteps = 10000\n')
ACROBOT_ADAPTER = """
import numpy as np
from rewardsmith.core.state import ActionSpec, StateField, StateSpec
from rewardsmith.envs.adapters import StateAdapter


class AcrobotAdapter(StateAdapter):
    spec = StateSpec(fields=(StateField(name="tip_height", shape=(), unit="m", doc="height of the tip"),),
                     action=ActionSpec(1, "torque: 0, 1 or 2", 0.0, 2.0))

    def read(self, env, obs):
        return np.array([-obs[0] - (obs[0] * obs[2] - obs[1] * obs[3])], dtype=np.float64)
"""


def test_dry_run_on_jax_without_a_jax_environment_says_so(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """A Gymnasium id the jax backend has no environment for (a user's adapter on Acrobot) is refused by the
    dry run as by a run; it used to estimate sb3 silently."""
    pytest.importorskip("jax")
    (tmp_path / "acrobot.py").write_text(ACROBOT_ADAPTER)
    (tmp_path / "acrobot.toml").write_text(ACROBOT_TASK)
    line = _main_error(capsys, "run", str(tmp_path / "acrobot.toml"), "--backend", "jax", "--dry-run")
    assert "--backend jax: Acrobot-v1 has no JAX environment" in line


USER_TASK = ('name = "mine"\nenv = "MountainCarContinuous-v0"\ndescription = "Drive up the left hill."\n'
             'fitness = "my_fitness.py:lfet_height"\n')


def test_a_typo_in_the_fitness_functions_name_fails_the_dry_run(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "my_fitness.py").write_text("def left_height(episode):\n    return 1.0\n\n"
                                            "def _helper():\n    pass\n")
    (tmp_path / "mine.toml").write_text(USER_TASK)
    line = _main_error(capsys, "run", str(tmp_path / "mine.toml"), "--dry-run", "--out", str(tmp_path / "runs"))
    assert "has no function 'lfet_height'; it defines: left_height (did you mean 'left_height'?)" in line
    assert not (tmp_path / "runs").exists()


# -- where to look (issue 26, item 10) ---------------------------------------------------------------------------
def test_tasks_name_shows_one_task_with_its_training_settings(capsys: pytest.CaptureFixture[str]) -> None:
    from rewardsmith.agent.app.cli import main

    assert main(["tasks", "pendulum"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("pendulum  Pendulum-v1") and "cartpole" not in out and "state.angle" in out
    assert "training settings:" in out and "use_sde True" in out
    assert main(["tasks", "--json", "cartpole", "pendulum"]) == 0
    assert [t["name"] for t in json.loads(capsys.readouterr().out)] == ["cartpole", "pendulum"]


def test_tasks_metrics_lists_every_built_in_metric_with_what_it_measures(capsys: pytest.CaptureFixture[str]) -> None:
    from rewardsmith.agent.app.cli import main
    from rewardsmith.envs.fitness import BUILTIN_METRICS

    assert main(["tasks", "--metrics"]) == 0
    out = capsys.readouterr().out
    for name, fn in BUILTIN_METRICS.items():
        assert f"{name}  {' '.join((fn.__doc__ or '').split())}" in out


def test_the_command_line_starts_without_the_heavy_libraries() -> None:
    """``rewardsmith --help`` and every parser build import no numpy, torch, gymnasium, pydantic or Optuna."""
    import subprocess
    import sys

    code = ("import sys; from rewardsmith.agent.app.cli import _parser; _parser(); "
            "print(sorted(m for m in ('numpy', 'torch', 'gymnasium', 'pydantic', 'jinja2', 'optuna') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"


def test_the_run_header_says_which_training_settings_a_task_uses(tmp_path: Path) -> None:
    from rewardsmith.agent.app.cli import settings_line
    from rewardsmith.envs.tasks import load_task

    (tmp_path / "spin.toml").write_text('name = "spin"\nenv = "Pendulum-v1"\ndescription = "Spin clockwise."\n'
                                        'fitness = "upright_fraction"\n[train]\nsteps = 5000\n')
    line = settings_line(load_task(tmp_path / "spin.toml"))
    assert line.startswith("training settings: the built-in pendulum task's tuned [train] settings (pendulum.toml); "
                           "this file sets: steps — 4 envs")
    assert "use_sde True" in line and "n_steps 1024" in line
    assert "the task file's own [train] settings" in settings_line(load_task("cartpole"))

"""``rewardsmith evaluate``: bad budgets get one error line; a budget that is not whole rollouts is said."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

UPRIGHT = """
import numpy as np
def compute_reward(state, action):
    up = np.exp(-np.square(state.pole_angle / 0.1))
    return up, {"up": up}
"""


@pytest.mark.parametrize(("flag", "value"), [("--steps", "-1"), ("--steps", "0"), ("--seeds", "0"), ("--workers", "0")])
def test_a_budget_below_one_is_a_one_line_error(run_cli, tmp_path: Path, flag: str, value: str) -> None:
    (tmp_path / "r.py").write_text(UPRIGHT)
    proc = run_cli("evaluate", "cartpole", "r.py", flag, value, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines() == [f"error: {flag} must be at least 1, got {value}"]
    assert not (tmp_path / "runs").exists()


def test_steps_that_are_not_whole_rollouts_are_rounded_out_loud(run_cli, tmp_path: Path) -> None:
    (tmp_path / "r.py").write_text(UPRIGHT)
    proc = run_cli("evaluate", "cartpole", "r.py", "--steps", "3000", "--seeds", "1", "--workers", "1", "--json",
                   timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "--steps 3,000 is trained as 4,096 steps" in proc.stderr
    assert json.loads(proc.stdout)["steps"] == 4096

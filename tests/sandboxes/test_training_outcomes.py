"""During training a misbehaving reward becomes the candidate's recorded outcome, never a hung or
crashed trainer: NaN streaks end training as ``nan``, hangs as ``timeout``, errors as ``crashed``;
an isolated NaN step is trained through and counted.

The candidate is called once per PPO rollout (2,048 CartPole steps, step-major rows), so the
triggers below fire on the first call, and the budget is two rollouts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rewardsmith.agent.rundir.store import TargetFiles
from rewardsmith.envs.backends.sb3.train import TrainJob, train

TASK = Path(__file__).resolve().parents[2] / "envs" / "tasks" / "cartpole.toml"

COUNTER = """import numpy as np

STEPS = [0]

def tick(box):
    box.append(1)
    return len(box)

def compute_reward(state, action):
    n = tick(STEPS)
    upright = np.cos(state.pole_angle)
{trigger}
    return upright, {{"upright": upright}}
"""

TRIGGERS = {
    # (these bypass the probe: train() is called directly, as a job process would after validation)
    "nan": "    if n >= 1:\n        upright = upright * np.nan\n",
    "timeout": "    while n >= 1:\n        n += 1\n",
    "crashed": "    if n >= 1:\n        upright = upright + np.ones((200_000, 200_000)).sum()\n",
}
BUDGET = 4096  # two rollouts of 256 steps × 8 envs


@pytest.mark.parametrize("status", sorted(TRIGGERS))
def test_misbehaviour_during_training_is_recorded(tmp_path: Path, status: str) -> None:
    reward = tmp_path / "reward.py"
    reward.write_text(COUNTER.format(trigger=TRIGGERS[status]))
    result = train(TrainJob(task_file=str(TASK), reward_kind="candidate", reward_file=str(reward), steps=BUDGET, seed=0, outputs=TargetFiles(Path(tmp_path)).train_outputs(),
                            call_timeout_s=1.0))
    assert result.status == status
    assert result.policy is None and not (tmp_path / "policy.npz").exists()
    assert result.steps_done < BUDGET
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["status"] == status and saved["error"]
    if status == "nan":
        assert "10 steps in a row" in result.error and "pole_angle=" in (result.error or "")
        assert result.nonfinite_steps == 10


def test_an_isolated_nan_is_trained_through_and_counted(tmp_path: Path) -> None:
    reward = tmp_path / "reward.py"
    # one NaN, at one environment's first step of the first rollout (STEPS starts as [0]: the first call is n == 2)
    reward.write_text(COUNTER.format(trigger="    if n == 2:\n        upright = np.where(np.arange(len(upright)) == 5, "
                                             "np.nan, upright)\n"))
    result = train(TrainJob(task_file=str(TASK), reward_kind="candidate", reward_file=str(reward), steps=BUDGET, seed=0, outputs=TargetFiles(Path(tmp_path)).train_outputs()))
    assert result.status == "ok" and result.nonfinite_steps == 1


def test_a_reward_finite_only_in_float64_ends_training_as_nan(tmp_path: Path) -> None:
    """1e300 passes every float64 NaN/inf check but is inf in SB3's float32 buffers: it counts as non-finite."""
    reward = tmp_path / "reward.py"
    reward.write_text(COUNTER.format(trigger="    if n >= 1:\n        upright = upright * 1e300\n"))
    result = train(TrainJob(task_file=str(TASK), reward_kind="candidate", reward_file=str(reward), steps=BUDGET, seed=0,
                            outputs=TargetFiles(Path(tmp_path)).train_outputs()))
    assert result.status == "nan", result.error
    assert "float32" in (result.error or "") and result.nonfinite_steps == 10

"""Training and evaluation on a tiny budget: components logged, failures recorded, evaluation isolated."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from rewardsmith.agent.rundir.store import TargetFiles
from rewardsmith.envs.backends.sb3.train import TrainJob, train
from rewardsmith.envs.evaluation import EvalJob, evaluate, seed_sets
from rewardsmith.envs.tasks import builtin_task_files

CARTPOLE = str(builtin_task_files()["cartpole"])

UPRIGHT = """
import numpy as np
W_UP = 1.0
def compute_reward(state, action):
    up = W_UP * np.exp(-np.square(state.pole_angle / 0.1))
    centre = -0.1 * np.abs(state.cart_position)
    return up + centre, {"up": up, "centre": centre}
"""

NAN_LATER = """
import numpy as np
def compute_reward(state, action):
    r = np.where(np.abs(state.pole_angle) > 0.5, np.nan, 1.0)  # never true on CartPole: control case
    bad = np.log(state.cart_position - 100.0)                    # NaN on every state
    return r + bad, {"r": r, "bad": bad}
"""


def test_candidate_training_logs_every_component_and_saves_a_policy(tmp_path: Path) -> None:
    (tmp_path / "reward.py").write_text(UPRIGHT)
    result = train(TrainJob(task_file=CARTPOLE, reward_kind="candidate", reward_file=str(tmp_path / "reward.py"), steps=2048, seed=0, outputs=TargetFiles(Path(tmp_path)).train_outputs()))
    assert result.status == "ok" and result.trained
    assert result.components == ("up", "centre")
    assert result.steps_done >= 2048
    assert result.checkpoints and all(set(cp.component_step_means) == {"up", "centre"} for cp in result.checkpoints)
    assert any(cp.fitness is not None for cp in result.checkpoints)
    assert (tmp_path / "policy.npz").is_file() and (tmp_path / "metrics.json").is_file()
    assert "rewardsmith.envs.backends.sb3.reward_wrapper" in sys.modules
    assert not any(name == "reward" or name.startswith("reward.") for name in sys.modules)


def test_a_reward_that_returns_nan_during_training_is_recorded_as_nan(tmp_path: Path) -> None:
    (tmp_path / "reward.py").write_text(NAN_LATER)
    result = train(TrainJob(task_file=CARTPOLE, reward_kind="candidate", reward_file=str(tmp_path / "reward.py"), steps=2048, seed=0, outputs=TargetFiles(Path(tmp_path)).train_outputs()))
    assert result.status == "nan"
    assert result.error is not None and "bad" in result.error
    assert result.policy is None and not (tmp_path / "policy.npz").exists()


@pytest.mark.parametrize("kind", ["env", "sparse"])
def test_baseline_rewards(tmp_path: Path, kind: str) -> None:
    result = train(TrainJob(task_file=CARTPOLE, reward_kind=kind, reward_file=None, steps=2048, seed=0, outputs=TargetFiles(Path(tmp_path)).train_outputs()))  # type: ignore[arg-type]
    assert result.status == "ok"
    expected = {"env": ("env_reward",), "sparse": ("fitness_at_end",)}[kind]
    assert result.components == expected
    if kind == "env":  # CartPole's own reward is 1 per step: its return equals the episode length
        cp = next(cp for cp in result.checkpoints if cp.episodes)
        assert cp.component_returns["env_reward"] == pytest.approx(cp.episode_length)


def test_evaluation_needs_only_the_policy_and_is_deterministic(tmp_path: Path) -> None:
    (tmp_path / "reward.py").write_text(UPRIGHT)
    train(TrainJob(task_file=CARTPOLE, reward_kind="candidate", reward_file=str(tmp_path / "reward.py"), steps=2048, seed=0, outputs=TargetFiles(Path(tmp_path)).train_outputs()))
    (tmp_path / "reward.py").unlink()  # the evaluator must not need (or read) the candidate's code
    selection, heldout = seed_sets(0, 3, 4)
    assert not set(selection) & set(heldout)
    first = evaluate(EvalJob(task_file=CARTPOLE, policy_file=str(tmp_path / "policy.npz"), selection_seeds=selection, heldout_seeds=heldout, out_file=str(tmp_path / "f1.json")))
    again = evaluate(EvalJob(task_file=CARTPOLE, policy_file=str(tmp_path / "policy.npz"), selection_seeds=selection, heldout_seeds=heldout, out_file=str(tmp_path / "f2.json")))
    assert len(first.heldout.values) == 4 and first.heldout.seeds == heldout
    assert first.heldout.values == again.heldout.values
    assert first.heldout.mean == pytest.approx(float(np.mean(first.heldout.values)))


def test_rewards_computed_once_per_rollout_train_exactly_like_per_step_rewards(tmp_path: Path) -> None:
    """The sandboxed candidate is called once per rollout and its rewards put into SB3's buffer before
    returns are recomputed; with the env's own reward written as a reward file, the policy must come
    out bit-identical to training on the env's reward step by step (same seed, two rollouts)."""
    from rewardsmith.envs.adapters.env_rewards import env_reward_file

    per_step, deferred = tmp_path / "env", tmp_path / "file"
    train(TrainJob(task_file=CARTPOLE, reward_kind="env", reward_file=None, steps=4096, seed=0, outputs=TargetFiles(Path(per_step)).train_outputs()))
    reward_file = env_reward_file("CartPole-v1")
    assert reward_file is not None
    result = train(TrainJob(task_file=CARTPOLE, reward_kind="candidate", reward_file=str(reward_file), steps=4096, seed=0, outputs=TargetFiles(Path(deferred)).train_outputs()))
    assert result.status == "ok"
    with np.load(per_step / "policy.npz") as a, np.load(deferred / "policy.npz") as b:
        assert a.files == b.files
        for name in a.files:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_a_training_job_leaves_no_sb3_folder_in_the_temporary_directory(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    out = tmp_path / "job"
    result = train(TrainJob(task_file=CARTPOLE, reward_kind="env", reward_file=None, steps=2048, seed=0,
                            outputs=TargetFiles(out).train_outputs()))
    assert result.trained
    assert not list(scratch.glob("SB3-*"))  # SB3's logger writes into the job's own folder instead

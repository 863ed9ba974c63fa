"""The built-in tasks on DeepMind Control suite bodies: their rewards are the suite's, and each trains a round.

The suite's MJCF files ship in dm-control (a base dependency); its Python is used here only to check that the
env-reward files reproduce ``dm_control.utils.rewards.tolerance`` as the suite's tasks call it.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
from dm_control.utils import rewards as dmc

from rewardsmith.agent.design.designers.base import DesignRequest
from rewardsmith.agent.design.designers.offline import OfflineDesigner
from rewardsmith.agent.design.extract import extract_reward
from rewardsmith.agent.rundir.store import TargetFiles
from rewardsmith.core.state import StateBatch
from rewardsmith.envs.backends.sb3.train import TrainJob, train
from rewardsmith.envs.evaluation import EvalJob, evaluate
from rewardsmith.envs.rollout import random_rollout
from rewardsmith.envs.tasks import builtin_task_files, load_task, load_task_file
from rewardsmith.sandboxes.validate import validate_source
from tests.envs.test_contract import _reward_module

MODEL_TASKS = sorted(n for n, p in builtin_task_files().items() if re.search(r"^model = ", p.read_text(), re.MULTILINE))
REWARDS = Path(__file__).resolve().parents[2] / "envs" / "adapters" / "env_rewards"


def test_the_built_in_bodies_are_the_suites() -> None:
    assert MODEL_TASKS == ["finger-spin", "fish-swim", "quadruped-walk"]
    for name in MODEL_TASKS:
        task = load_task(name)
        assert task.model is not None and task.model.ref.startswith("dm_control:suite/")
        assert task.adapter.reward_file is not None  # the suite's reward is the env's own: the human baseline's


def test_quadruped_walk_pays_the_suites_upright_times_move() -> None:
    module = _reward_module(REWARDS / "dmc_quadruped_walk.py")
    z, v = np.meshgrid(np.linspace(-1, 1, 21), np.linspace(-1.5, 1.5, 31))
    z, v = z.ravel(), v.ravel()
    up = np.stack([np.zeros_like(z), np.sqrt(1 - z**2), z], axis=1)
    total, _ = module.compute_reward(StateBatch({"up_vector": up, "velocimeter": np.stack([v, 0 * v, 0 * v], 1)}), None)
    upright = dmc.tolerance(z, bounds=(1.0, math.inf), sigmoid="linear", margin=2.0, value_at_margin=0)
    move = dmc.tolerance(v, bounds=(0.5, math.inf), margin=0.5, value_at_margin=0.5, sigmoid="linear")
    np.testing.assert_allclose(total, upright * move, atol=1e-12)


def test_fish_swim_pays_the_suites_in_target_and_upright() -> None:
    module = _reward_module(REWARDS / "dmc_fish_swim.py")
    d, z = np.meshgrid(np.linspace(0, 0.5, 51), np.linspace(-1, 1, 5))
    d, z = d.ravel(), z.ravel()
    state = StateBatch({"distance_to_target": d, "up_vector": np.stack([0 * z, np.sqrt(1 - z**2), z], 1)})
    total, _ = module.compute_reward(state, None)
    radii = 0.005 + 0.04  # the mouth's and the target's radii in fish.xml
    in_target = dmc.tolerance(d, bounds=(0, radii), margin=2 * radii)
    np.testing.assert_allclose(total, (7 * in_target + 0.5 * (z + 1)) / 8, atol=1e-12)


def test_finger_spin_pays_one_while_the_spinner_turns_at_15_rad_s_the_suites_way() -> None:
    module = _reward_module(REWARDS / "dmc_finger_spin.py")
    total, _ = module.compute_reward(StateBatch({"hinge_velocity": np.array([-20.0, -15.0, -14.9, 0.0, 20.0])}), None)
    assert total.tolist() == [1.0, 1.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize("name", MODEL_TASKS)
def test_the_env_reward_files_pass_the_sandbox(name: str, tmp_path: Path) -> None:
    task = load_task_file(_tiny(name, tmp_path))
    assert task.adapter.reward_file is not None
    sample = random_rollout(task, n=64, seed=0, max_episodes=1)
    states = sample.states.copy()
    spinning = dict(task.adapter.spec.slices()).get(next((f for f in task.adapter.spec.fields if f.name == "hinge_velocity"), None))
    if spinning is not None:  # the finger's reward is sparse: 0 on random states, which the probe refuses as constant
        states[::2, spinning] = -20.0
    report = validate_source(task.adapter.reward_file.read_text(), task.adapter.spec, states, sample.actions)
    assert report.accepted, report.message


def _tiny(name: str, folder: Path) -> Path:
    """The built-in task with a tiny training budget and 40-step episodes (paths made absolute for the copy)."""
    source = builtin_task_files()[name]
    text = source.read_text()
    text = re.sub(r'reward = "([^"]+)"', lambda m: f'reward = "{(source.parent / m.group(1)).resolve()}"', text)
    text = re.sub(r"max_steps = \d+", "max_steps = 40", text)
    text = re.sub(r"\[train\].*", '[train]\nsteps = 128\nn_envs = 2\nppo = { n_steps = 64, batch_size = 64, '
                  "n_epochs = 1 }\n", text, flags=re.DOTALL)
    path = folder / f"{name}.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", MODEL_TASKS)
def test_a_built_in_model_task_trains_a_round(name: str, tmp_path: Path) -> None:
    task = load_task_file(_tiny(name, tmp_path))
    completion = OfflineDesigner().propose(DesignRequest(task=task, round=1, k=1, seed=0, messages=(), history=()))[0]
    code = extract_reward(completion.text).code
    sample = random_rollout(task, n=64, seed=0, max_episodes=1)
    assert validate_source(code, task.adapter.spec, sample.states, sample.actions).accepted
    (tmp_path / "reward.py").write_text(code)
    files = TargetFiles(tmp_path / "cand")
    result = train(TrainJob(task_file=str(task.source), reward_kind="candidate", reward_file=str(tmp_path / "reward.py"),
                            steps=128, seed=0, outputs=files.train_outputs()))
    assert result.status == "ok" and result.steps_done >= 128, result.error
    fitness = evaluate(EvalJob(task_file=str(task.source), policy_file=str(files.dir / "policy.npz"),
                               selection_seeds=(1,), heldout_seeds=(2,), out_file=str(tmp_path / "fitness.json")))
    assert len(fitness.heldout.values) == 1 and np.isfinite(fitness.heldout.values[0])

"""The README's custom state adapter example works as written: the task loads, fields read from the env."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from rewardsmith.envs.rollout import random_rollout
from rewardsmith.envs.tasks import load_task_file

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readmes_adapter_example_loads_and_reads_its_fields(tmp_path: Path) -> None:
    section = README.read_text().split("## Writing a state adapter for another environment", 1)[1]
    python, toml = re.findall(r"```(?:python|toml)\n(.*?)```", section, re.S)[:2]
    (tmp_path / "my_adapter.py").write_text(python)
    (tmp_path / "cartpole-speed.toml").write_text(toml)
    task = load_task_file(tmp_path / "cartpole-speed.toml")
    assert task.adapter.spec.names == ("cart_position", "cart_speed", "pole_tip")
    sample = random_rollout(task, n=64, seed=0)
    state = task.adapter.spec.unpack(sample.states)
    assert state.cart_speed.shape == (64,) and np.all(state.cart_speed >= 0)
    assert state.pole_tip.shape == (64, 2) and np.allclose(np.linalg.norm(state.pole_tip, axis=1), 1.0)

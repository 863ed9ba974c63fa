"""The README's "Using a reward in your own training" block runs as written (only its budget made small and its
reward path made real), and trains with the task's own settings and one PyTorch thread."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
STEPS_LINE = "STEPS = 150_000"
REWARD_PATH = "runs/mountain-car-<timestamp>/best_reward.py"
REWARD = '''\
import numpy as np


def compute_reward(state, action):
    reached = 10.0 * (state.position >= 0.45).astype(np.float64)
    speed = np.abs(state.velocity) / 0.07
    return reached + speed, {"reached": reached, "speed": speed}
'''


def _own_training_block() -> str:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Using a reward in your own training", 1)[1]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)[0]


def test_the_readme_block_names_the_tasks_settings_and_one_thread() -> None:
    code = _own_training_block()
    compile(code, "README.md", "exec")
    assert code.count(STEPS_LINE) == 1 and code.count(REWARD_PATH) == 1
    assert "torch.set_num_threads(1)" in code and "task.train.ppo.sb3_kwargs()" in code
    assert "policy_kwargs=task.train.ppo.policy_kwargs()" in code and "n_envs=task.train.n_envs" in code


@pytest.mark.slow  # ~8 s: imports, 8 sandboxed reward workers, one PPO rollout
def test_the_readme_block_trains_with_the_tasks_settings_and_one_thread(tmp_path: Path) -> None:
    code = _own_training_block()
    (tmp_path / "best_reward.py").write_text(REWARD)
    # what PPO was built with, printed after the block's own code ends
    check = ("\nimport json\nprint('CHECK', json.dumps([torch.get_num_threads(), model.n_envs, model.n_steps, "
             "model.batch_size, model.num_timesteps]))\n")
    script = tmp_path / "own_training.py"
    script.write_text(code.replace(STEPS_LINE, "STEPS = 1_000").replace(REWARD_PATH, "best_reward.py") + check)
    proc = subprocess.run([sys.executable, script.name], cwd=tmp_path, text=True, capture_output=True, timeout=180,
                          env=dict(os.environ))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = re.search(r"CHECK (\[.*\])", proc.stdout)
    assert found is not None, proc.stdout
    # mountain-car.toml: 8 envs, PPO n_steps 256, batch_size 256 (SB3's defaults are 1 env, 2048, 64)
    threads, n_envs, n_steps, batch_size, trained = json.loads(found.group(1))
    assert (threads, n_envs, n_steps, batch_size) == (1, 8, 256, 256) and trained >= 1_000

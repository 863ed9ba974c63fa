"""``--backend auto`` and the run header on the jax backend: the MuJoCo tasks on native physics on a CPU, said."""

from __future__ import annotations

import pytest

pytest.importorskip("jax")

from rewardsmith.agent.records.config import RunConfig
from rewardsmith.agent.train.backends import JaxBackend, resolve_backend
from rewardsmith.envs.tasks import load_task


@pytest.mark.parametrize("name", ["hopper", "ant", "reacher"])
def test_auto_picks_jax_with_native_physics_for_a_mujoco_task_on_a_cpu(name: str) -> None:
    config, backend, line = resolve_backend(load_task(name), RunConfig(task=name, backend="auto"))
    assert (config.backend, backend.name) == ("jax", "jax")
    assert "native physics (MuJoCo's C engine" in line and "on cpu" in line


def test_auto_on_classic_control_names_no_physics() -> None:
    _, backend, line = resolve_backend(load_task("cartpole"), RunConfig(task="cartpole", backend="auto"))
    assert backend.name == "jax" and "physics" not in line


def test_the_jax_header_says_which_physics_the_mujoco_tasks_step_on() -> None:
    _, _, line = resolve_backend(load_task("walker2d"), RunConfig(task="walker2d", backend="jax"))
    assert line.startswith("backend: jax (") and "MuJoCo tasks on native physics" in line
    assert "MuJoCo tasks on native physics" in JaxBackend().describe()

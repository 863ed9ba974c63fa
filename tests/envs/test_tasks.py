"""Task files: built-in tasks load, a user's own task works the same way, bad input gets one clear line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rewardsmith.agent.context import check_fitness
from rewardsmith.core.errors import FitnessError, TaskError
from rewardsmith.envs.fitness import compute_fitness
from rewardsmith.envs.rollout import random_rollout
from rewardsmith.envs.tasks import PpoSettings, builtin_task_files, load_task

BASE = 'name = "x"\nenv = "CartPole-v1"\ndescription = "d"\nfitness = "balance_steps"\n[train]\nsteps = 10\n'

USER_TASK = """
name = "mountain-car-left"
env = "MountainCarContinuous-v0"
description = "Drive the car as far up the left hill as it can go."
fitness = "my_fitness.py:left_height"
[train]
steps = 4096
"""

USER_FITNESS = """
import numpy as np

def left_height(episode):
    return float(-np.min(episode.state.position))

def broken(episode):
    raise KeyError("no such thing")

def not_a_number(episode):
    return "high"
"""


def test_builtin_tasks_load_with_their_adapters_and_fitness() -> None:
    names = set(builtin_task_files())
    assert {"cartpole", "pendulum", "mountain-car"} <= names
    for name in names:
        task = load_task(name)
        assert task.name == name
        assert task.adapter.spec.size > 0
        assert callable(task.fitness)
        assert task.train.steps > 0


def test_a_builtin_name_stays_the_builtin_task_beside_a_folder_of_that_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`rewardsmith run fish-swim --out fish-swim`, then `validate fish-swim ...` from the same folder."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cartpole").mkdir()
    assert load_task("cartpole").name == "cartpole"
    (tmp_path / "mine").mkdir()
    with pytest.raises(TaskError, match="task file mine is not a file"):
        load_task("mine")
    with pytest.raises(TaskError, match=r"task file gone\.toml does not exist"):
        load_task("gone.toml")


def test_unknown_task_lists_the_valid_names() -> None:
    with pytest.raises(TaskError) as err:
        load_task("moon-lander")
    msg = str(err.value)
    assert "moon-lander" in msg and "cartpole" in msg and "mountain-car" in msg
    assert "\n" not in msg


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('name = "x"\nenv = "CartPole-v1"\n', "field 'description'"),
        ('name = "x"\nenv = "CartPole-v1"\ndescription = "d"\nfitness = "balance_steps"\n[train]\nsteps = "many"\n',
         "field 'train.steps'"),
        ('name = "x"\nenv = "CartPole-v1"\ndescription = "d"\nfitness = "balance_steps"\n[train]\nsteps = 10\n'
         'ppo = { learning_rat = 0.1 }\n', "unknown PPO setting 'learning_rat'"),
        ('name = "x"\nenv = "Nope-v0"\ndescription = "d"\nfitness = "balance_steps"\n[train]\nsteps = 10\n',
         "no built-in state adapter for 'Nope-v0'"),
        ('name = "x"\nenv = "CartPole-v1"\ndescription = "d"\nfitness = "speed"\n[train]\nsteps = 10\n',
         "unknown fitness metric 'speed'"),
        ("name = [unclosed", "not valid TOML"),
        (f"{BASE}ppo = {{ n_steps = -5 }}\n", "field 'train.ppo.n_steps': Input should be greater than 0 (got -5)"),
        (f"{BASE}ppo = {{ n_steps = 100, batch_size = 64 }}\n",
         "ppo.batch_size 64 must divide n_steps × n_envs = 800 (100 × 8)"),
        (f"{BASE}ppo = {{ n_steps = 256.0 }}\n", "field 'train.ppo.n_steps': Input should be a valid integer (got 256.0)"),
        (f"{BASE}ppo = {{ use_sde = \"yes\" }}\n", "field 'train.ppo.use_sde': Input should be a valid boolean"),
        (f"{BASE}ppo = {{ gamma = 1.5 }}\n", "field 'train.ppo.gamma': Input should be less than or equal to 1"),
        (f"{BASE}ppo = {{ net_arch = [64, 0] }}\n", "net_arch must list positive layer sizes"),
        (f"{BASE}ppo = {{ policy_kwargs = {{ net_arch = [8] }} }}\n", "unknown PPO setting 'policy_kwargs'"),
        (BASE.replace("steps = 10", 'steps = "10"'), "field 'train.steps': Input should be a valid integer (got '10')"),
    ],
)
def test_malformed_task_file_names_the_file_and_field(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(TaskError) as err:
        load_task(path)
    msg = str(err.value)
    assert str(path) in msg
    assert expected in msg
    assert "\n" not in msg


def test_user_task_with_own_fitness_function(tmp_path: Path) -> None:
    (tmp_path / "my_fitness.py").write_text(USER_FITNESS)
    (tmp_path / "left.toml").write_text(USER_TASK)
    task = load_task(tmp_path / "left.toml")
    assert task.description.startswith("Drive the car as far up the left hill")
    sample = random_rollout(task, n=64, seed=0)
    assert sample.states.shape == (64, task.adapter.spec.size)
    episode = sample.episodes[0]
    value = compute_fitness(task.fitness, episode)
    assert value == pytest.approx(float(-np.min(episode.state.position)))
    check_fitness(task, sample)  # does not raise


@pytest.mark.parametrize(("func", "expected"), [("broken", "raised KeyError"), ("not_a_number", "returned str")])
def test_fitness_function_that_fails_stops_before_training(tmp_path: Path, func: str, expected: str) -> None:
    (tmp_path / "my_fitness.py").write_text(USER_FITNESS)
    (tmp_path / "left.toml").write_text(USER_TASK.replace("left_height", func))
    task = load_task(tmp_path / "left.toml")
    with pytest.raises(FitnessError, match=expected):
        check_fitness(task, random_rollout(task, n=64, seed=0))


def test_ppo_settings_are_typed_with_sb3_defaults() -> None:
    import inspect

    from stable_baselines3 import PPO

    defaults = {k: p.default for k, p in inspect.signature(PPO.__init__).parameters.items()}
    settings = PpoSettings()
    for name, value in settings.sb3_kwargs().items():
        assert name in defaults, f"{name} is not a PPO argument"
        assert value == defaults[name], name
    assert settings.policy_kwargs() == {}
    task = load_task("pendulum")
    assert (task.train.ppo.n_steps, task.train.ppo.use_sde, task.train.ppo.sde_sample_freq) == (1024, True, 4)
    assert task.train.ppo.sb3_kwargs()["gamma"] == 0.9
    assert PpoSettings(net_arch=(32, 32)).policy_kwargs() == {"net_arch": [32, 32]}
    with pytest.raises(ValueError, match="frozen"):
        task.train.ppo.n_steps = 5


def test_a_task_file_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(BASE.replace('description = "d"', 'description = "caf\xe9"').encode("latin-1"))
    with pytest.raises(TaskError) as err:
        load_task(path)
    offset = BASE.index('description = "') + len('description = "caf')
    assert str(err.value) == f"{path}: not UTF-8 text (byte 0xe9 at offset {offset}); save the task file as UTF-8"


@pytest.mark.parametrize(("module", "expected"), [
    ("raise RuntimeError('no GPU\\nfound')\n", "raised RuntimeError: no GPU found"),
    ("def broken(:\n", "raised SyntaxError (line 1)"),
    ("import no_such_module_anywhere\n", "raised ModuleNotFoundError: No module named 'no_such_module_anywhere'"),
])
def test_an_adapter_module_that_fails_at_import_is_one_line(tmp_path: Path, module: str, expected: str) -> None:
    (tmp_path / "adapter.py").write_text(module)
    path = tmp_path / "mine.toml"
    path.write_text(BASE.replace('env = "CartPole-v1"\n', 'env = "CartPole-v1"\nadapter = "adapter.py:Mine"\n'))
    with pytest.raises(TaskError) as err:
        load_task(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: field 'adapter': importing {tmp_path / 'adapter.py'} ") and expected in msg
    assert "\n" not in msg and "Traceback" not in msg


# -- a user's adapter: bounded at import, and only a .py file (issue 24) -----------------------------------------
def _adapter_task(tmp_path: Path, ref: str) -> Path:
    path = tmp_path / "mine.toml"
    path.write_text(BASE.replace('env = "CartPole-v1"\n', f'env = "CartPole-v1"\nadapter = "{ref}"\n'))
    return path


def test_an_adapter_that_hangs_at_import_is_stopped_at_its_deadline(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setattr("rewardsmith.envs.adapters.ADAPTER_IMPORT_TIMEOUT_S", 1.0)
    (tmp_path / "adapter.py").write_text("while True:\n    pass\n")
    started = time.monotonic()
    with pytest.raises(TaskError) as err:
        load_task(_adapter_task(tmp_path, "adapter.py:Mine"))
    assert time.monotonic() - started < 15
    msg = str(err.value)
    assert "field 'adapter'" in msg and "did not finish within 1 s" in msg and "\n" not in msg


def test_an_adapter_that_is_not_a_python_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "adapter.txt").write_text("class Mine: pass\n")
    with pytest.raises(TaskError) as err:
        load_task(_adapter_task(tmp_path, "adapter.txt:Mine"))
    assert "field 'adapter'" in str(err.value) and "not a .py file" in str(err.value)


def test_a_working_adapter_is_checked_in_a_child_once_then_loaded_here(tmp_path: Path) -> None:
    (tmp_path / "adapter.py").write_text(
        "from rewardsmith.envs.adapters.classic import CartPoleAdapter\n\nclass Mine(CartPoleAdapter):\n    pass\n")
    task = load_task(_adapter_task(tmp_path, "adapter.py:Mine"))
    assert type(task.adapter).__name__ == "Mine" and task.adapter.spec.size > 0


# -- a task on a built-in body inherits the body's tuned [train] settings (issue 26, item 2) -----------------------
SPIN = """
name = "pendulum-spin-cw"
env = "Pendulum-v1"
description = "Spin the pendulum clockwise as fast as possible."
fitness = "upright_fraction"
"""


def test_a_task_on_a_built_in_body_inherits_its_tuned_train_settings(tmp_path: Path) -> None:
    (tmp_path / "spin.toml").write_text(SPIN)
    task = load_task(tmp_path / "spin.toml")
    assert task.train == load_task("pendulum").train  # gSDE, n_steps 1024, gamma 0.9, the budget, 4 envs
    assert task.train_origin.body == "pendulum" and task.train_origin.overrides == ()
    assert "built-in pendulum task's tuned [train] settings" in task.train_origin.describe()


def test_the_file_overrides_the_inherited_settings_key_by_key(tmp_path: Path) -> None:
    (tmp_path / "spin.toml").write_text(SPIN + "[train]\nsteps = 5000\nn_envs = 4\n"  # 4: the body's own value
                                        "ppo = { learning_rate = 0.0005, gamma = 0.9 }\n")
    task = load_task(tmp_path / "spin.toml")
    ppo = task.train.ppo
    assert task.train.steps == 5000 and ppo.learning_rate == 0.0005
    assert (ppo.n_steps, ppo.use_sde, ppo.sde_sample_freq, ppo.gamma, task.train.n_envs) == (1024, True, 4, 0.9, 4)
    assert task.train_origin.overrides == ("steps", "ppo.learning_rate")
    assert task.train_origin.describe().endswith("this file sets: steps, ppo.learning_rate")


def test_an_inherited_setting_that_clashes_with_the_files_says_where_it_came_from(tmp_path: Path) -> None:
    (tmp_path / "spin.toml").write_text(SPIN + "[train]\nppo = { n_steps = 100 }\n")  # 100 × 4 envs: batch 64 ∤ 400
    with pytest.raises(TaskError) as err:
        load_task(tmp_path / "spin.toml")
    assert "batch_size 64 must divide" in str(err.value) and "inherits the built-in pendulum task's" in str(err.value)


HOP = """
name = "hop-high"
env = "Hopper-v5"
description = "Hop as high as you can."
fitness = "forward_distance"
"""


def test_a_backend_may_have_its_own_budget_and_a_files_own_steps_replace_the_inherited_ones(tmp_path: Path) -> None:
    hopper = load_task("hopper").train
    assert hopper.steps_on("jax") > hopper.steps == hopper.steps_on("sb3")  # [train.backend_steps] jax = ...
    (tmp_path / "same.toml").write_text(HOP + "[train]\nsteps = 200000\n")  # the body's own budget, written out
    assert load_task(tmp_path / "same.toml").train.steps_on("jax") == hopper.steps_on("jax")
    (tmp_path / "own.toml").write_text(HOP + "[train]\nsteps = 4096\n")  # a budget of its own: on every backend
    assert load_task(tmp_path / "own.toml").train.steps_on("jax") == 4096
    (tmp_path / "both.toml").write_text(HOP + "[train]\nsteps = 4096\n[train.backend_steps]\njax = 8192\n")
    both = load_task(tmp_path / "both.toml").train
    assert (both.steps_on("sb3"), both.steps_on("jax")) == (4096, 8192) and "jax: 8,192" in both.budgets()
    (tmp_path / "typo.toml").write_text(HOP + "[train.backend_steps]\njx = 8192\n")
    with pytest.raises(TaskError, match=r"backend_steps.*'sb3' or 'jax'"):
        load_task(tmp_path / "typo.toml")


def test_built_in_tasks_and_new_bodies_keep_their_own_settings(tmp_path: Path) -> None:
    assert all(load_task(name).train_origin.body is None for name in builtin_task_files())


def test_the_examples_load_and_train_with_their_bodys_tuned_settings() -> None:
    examples = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*/*.toml"))
    assert examples
    bodies = {load_task(name).env_id: load_task(name) for name in builtin_task_files()}
    for file in examples:
        task = load_task(file)
        if task.model is not None:  # a task on its own robot (examples/my-robot): no built-in body to inherit from
            assert task.train_origin.body is None, file
            continue
        body = bodies[task.env_id]
        assert task.train_origin.body == body.name, file
        assert (task.train.ppo, task.train.n_envs) == (body.train.ppo, body.train.n_envs), file
        assert task.train_origin.overrides == (), file  # they copy their body's block: nothing is overridden

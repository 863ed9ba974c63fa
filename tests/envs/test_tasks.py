"""Task files: built-in tasks load, a user's own task works the same way, bad input gets one clear line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent.loop import check_fitness
from core.errors import FitnessError, TaskError
from envs.fitness import compute_fitness
from envs.rollout import random_rollout
from envs.tasks import builtin_task_files, load_task

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

"""The task's fitness function is imported and tried in a child process under a deadline.

A user's fitness module that loops at import, or a function that never returns, used to hang
``run``, ``resume``, ``validate`` and ``evaluate`` forever (``load_task`` imported it in-process).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from rewardsmith.core.errors import FitnessError, TaskError
from rewardsmith.envs.fitness import check_fitness_file
from rewardsmith.envs.rollout import random_rollout
from rewardsmith.envs.tasks import Task, load_task

TASK = """
name = "cartpole-mine"
env = "CartPole-v1"
description = "Keep the pole up."
fitness = "mine.py:{func}"
[train]
steps = 4096
"""

TIMEOUT_S = 2.0
BOUND_S = TIMEOUT_S + 3.0
"""Deadline, plus starting the child (~0.5 s) and killing it; far below "forever"."""


def _task(tmp_path: Path, module: str, func: str = "score") -> Task:
    (tmp_path / "mine.py").write_text(module)
    (tmp_path / "task.toml").write_text(TASK.format(func=func))
    loaded: list[Task] = []
    loader = threading.Thread(target=lambda: loaded.append(load_task(tmp_path / "task.toml")), daemon=True)
    loader.start()
    loader.join(timeout=10)
    assert loaded, "load_task did not return: it ran the user's fitness module in this process"
    return loaded[0]


def _check(task: Task) -> tuple[FitnessError | TaskError, float]:
    episodes = random_rollout(load_task("cartpole"), n=64, seed=0).episodes
    started = time.monotonic()
    with pytest.raises(TaskError) as raised:
        check_fitness_file(task, episodes, TIMEOUT_S)
    return raised.value, time.monotonic() - started


def test_a_module_that_loops_at_import_fails_within_the_bound(tmp_path: Path) -> None:
    error, took = _check(_task(tmp_path, "while True:\n    pass\n"))
    assert isinstance(error, FitnessError) and took < BOUND_S
    assert str(error) == ("fitness function 'mine.py:score': importing its file did not finish within 2 s "
                          "(a loop or a blocking call at module level?)")


def test_a_function_that_hangs_when_called_fails_within_the_bound(tmp_path: Path) -> None:
    module = "import time\n\ndef score(episode):\n    while True:\n        time.sleep(0.01)\n"
    error, took = _check(_task(tmp_path, module))
    assert isinstance(error, FitnessError) and took < BOUND_S
    message = str(error)
    assert message.startswith("fitness function 'mine.py:score' did not return within 2 s: it had scored 0 of ")
    assert "hung on episode 1" in message and "\n" not in message


def test_what_the_hanging_module_started_is_killed_too(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    module = (f"import subprocess\np = subprocess.Popen(['sleep', '60'])\nopen({str(pid_file)!r}, 'w').write(str(p.pid))\n"
              "while True:\n    pass\n")
    _check(_task(tmp_path, module))
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid), "the fitness module's own child outlived the check"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


@pytest.mark.parametrize(("module", "func", "kind", "expected"), [
    ("def score(episode):\n    raise KeyError('no such thing')\n", "score", FitnessError, "raised KeyError"),
    ("def score(episode):\n    return 'high'\n", "score", FitnessError, "returned str, expected a float"),
    ("raise RuntimeError('boom\\nagain')\n", "score", FitnessError, "raised RuntimeError: boom again"),
    ("def other(episode):\n    return 1.0\n", "score", TaskError, "has no function 'score'"),
    ("import sys\nsys.exit(7)\n", "score", FitnessError, "exited with code 7"),
])
def test_a_failing_fitness_function_is_one_line(tmp_path: Path, module: str, func: str, kind: type[Exception],
                                                expected: str) -> None:
    error, took = _check(_task(tmp_path, module, func))
    assert type(error) is kind and expected in str(error) and "\n" not in str(error), str(error)
    assert took < BOUND_S


def test_a_working_fitness_function_gives_its_values_and_doc(tmp_path: Path) -> None:
    module = ('import numpy as np\n\ndef score(episode):\n    """Steps the pole stayed up."""\n'
              '    print("lots of output " * 10000)\n    return float(len(episode.env_rewards))\n')
    task = _task(tmp_path, module)
    episodes = random_rollout(load_task("cartpole"), n=64, seed=0).episodes
    check = check_fitness_file(task, episodes, TIMEOUT_S * 5)
    assert check.values == tuple(float(e.length) for e in episodes) and check.doc == "Steps the pole stayed up."
    builtin = check_fitness_file(load_task("cartpole"), episodes, TIMEOUT_S)
    assert builtin.values == check.values and builtin.doc.startswith("Number of steps")

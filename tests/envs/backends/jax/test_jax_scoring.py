"""The task's own fitness function in its bounded child process: the values the function gives here, its prints kept
out of the replies, and every failure (it raises, hangs, hangs where no signal reaches it) one FitnessError."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from rewardsmith.core.errors import FitnessError
from rewardsmith.envs.backends.jax.episodes import EpisodeRows, in_process
from rewardsmith.envs.backends.jax.scoring import FitnessChild
from rewardsmith.envs.tasks import load_task

SPEC = load_task("cartpole").adapter.spec  # 4 fields, 1 action

FITNESS = '''
import signal
import time

import numpy as np

def score(episode):
    print("scoring", episode.length)  # a chatty function: its prints must not reach the replies
    return float(np.sum(episode.state.cart_position) + 100 * episode.terminated + 1000 * episode.truncated
                 + np.sum(episode.actions) + 0.5 * np.sum(episode.env_rewards))

def broken(episode):
    raise ValueError("no score for you")

def hangs(episode):
    time.sleep(60)

def deaf(episode):
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})  # the call's own deadline cannot reach it
    time.sleep(60)
'''


def _episode(length: int, start: float, terminated: bool) -> EpisodeRows:
    rows = np.zeros((length, SPEC.size))
    rows[:, 0] = start + np.arange(length)
    return EpisodeRows(rows, np.full((length, 1), 2.0), np.ones(length), terminated, not terminated)


def _child(tmp_path: Path, name: str, **bounds: float) -> FitnessChild:
    (tmp_path / "fit.py").write_text(FITNESS)
    return FitnessChild(f"fit.py:{name}", tmp_path, SPEC, **bounds)


def test_the_child_scores_a_batch_as_the_function_does_here(tmp_path: Path) -> None:
    import importlib.util

    batch = [_episode(3, 0.0, True), _episode(5, 10.0, False), _episode(1, -4.0, True)]
    with _child(tmp_path, "score") as child:
        values = child(batch)
        assert child(batch[1:]) == values[1:] and child([]) == []
    module_spec = importlib.util.spec_from_file_location("fit", tmp_path / "fit.py")
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    assert values == in_process(SPEC, module.score, "fit.py:score")(batch) == [110.5, 1072.5, 98.5]


@pytest.mark.parametrize(("name", "bounds", "message"), [
    ("broken", {}, "raised ValueError: no score for you"),
    ("hangs", {"call_timeout_s": 0.5}, "did not return within 0.5 s"),
    ("deaf", {"call_timeout_s": 0.3, "grace_s": 0.5}, "did not finish scoring 1 episodes within 0.8 s"),
])
def test_every_failure_of_the_function_is_one_fitness_error_within_its_bound(
        tmp_path: Path, name: str, bounds: dict[str, float], message: str) -> None:
    with _child(tmp_path, name, **bounds) as child:
        started = time.monotonic()
        with pytest.raises(FitnessError, match=message):
            child([_episode(2, 0.0, True)])
        assert time.monotonic() - started < 5.0


def test_a_function_that_cannot_be_imported_is_a_fitness_error(tmp_path: Path) -> None:
    with _child(tmp_path, "missing") as child, pytest.raises(FitnessError, match="missing"):
        child([_episode(2, 0.0, True)])

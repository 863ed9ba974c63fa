"""Shared test fixtures. Helpers that tests import live in ``tests/support/``, never here: a conftest is not a module
to import from (two conftests would share one name)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def run_cli(tmp_path: Path):
    """Run ``rewardsmith ARGS`` in a subprocess (cwd = tmp_path); returns the CompletedProcess."""

    def _run(*args: str, timeout: float = 600, check: bool = False) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, COLUMNS="200")
        proc = subprocess.run([sys.executable, "-m", "rewardsmith.agent.app.cli", *args], cwd=tmp_path, env=env, text=True,
                              capture_output=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"rewardsmith {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    return _run


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch):
    """Every test: any connection or name lookup beyond 127.0.0.1 raises, and fails the test (tests/support/network_guard.py)."""
    from tests.support.network_guard import install

    guard = install(monkeypatch)
    yield guard
    if guard.attempts:
        pytest.fail(f"the test tried to reach the network: {', '.join(guard.attempts)}")


@pytest.fixture
def fake_llm():
    """A scripted OpenAI-compatible server on 127.0.0.1 (tests/support/fake_llm.py); ``fake_llm.url`` is its api_base."""
    from tests.support.fake_llm import serve

    with serve() as server:
        yield server


@pytest.fixture(scope="session")
def paused_run_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real CartPole run (2 rounds × 2 candidates, 2,048 steps, videos) paused for review after round 1.

    Started with ``--review web`` and a 1 s review timeout, so it stops resumable with ``round_01/review.json``
    written. Built once per session (~30 s); tests copy it with :func:`tests.support.runs.copy_run` and never change it.
    """
    out = tmp_path_factory.mktemp("paused")
    proc = subprocess.run(
        [sys.executable, "-m", "rewardsmith.agent.app.cli", "run", "cartpole", "--rounds", "2", "--samples", "2", "--steps", "2048",
         "--no-baselines", "--final-seeds", "0", "--review", "web", "--review-timeout", "1", "--workers", "2",
         "--out", str(out)],
        cwd=out, env=dict(os.environ, COLUMNS="200"), text=True, capture_output=True, timeout=600)
    runs = [p for p in out.iterdir() if (p / "config.json").is_file()]
    assert proc.returncode == 3 and len(runs) == 1, proc.stdout + proc.stderr
    assert (runs[0] / "round_01" / "review.json").is_file(), proc.stdout
    return runs[0]

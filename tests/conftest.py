"""Shared test fixtures. Each engineer adds fixtures here; keep them small and documented."""

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
        proc = subprocess.run([sys.executable, "-m", "agent.cli", *args], cwd=tmp_path, env=env, text=True,
                              capture_output=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"rewardsmith {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    return _run


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch):
    """Every test: any connection or name lookup beyond 127.0.0.1 raises, and fails the test (tests/network_guard.py)."""
    from network_guard import install

    guard = install(monkeypatch)
    yield guard
    if guard.attempts:
        pytest.fail(f"the test tried to reach the network: {', '.join(guard.attempts)}")


@pytest.fixture
def fake_llm():
    """A scripted OpenAI-compatible server on 127.0.0.1 (tests/fake_llm.py); ``fake_llm.url`` is its api_base."""
    from fake_llm import serve

    with serve() as server:
        yield server

"""A local LLM server that is not running is reported as a refused connection, not as a server error (500)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from rewardsmith.agent.design.llm.client import LLMClient, RetryPolicy
from rewardsmith.agent.design.llm.responses import ResponseStore
from rewardsmith.agent.design.prompting import Message
from rewardsmith.agent.records.config import LLMOptions
from rewardsmith.core.errors import DesignerError


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed when the block ends: nothing listens there


def test_a_refused_connection_is_said_at_once_and_not_retried(tmp_path: Path) -> None:
    api_base = f"http://127.0.0.1:{closed_port()}/v1"
    sleeps: list[float] = []
    client = LLMClient("openai/coder", LLMOptions(api_base=api_base, timeout_s=10.0),
                       ResponseStore(tmp_path / "responses"), RetryPolicy(max_attempts=3, backoff_s=0.01),
                       sleep=sleeps.append)
    with pytest.raises(DesignerError) as raised:
        client.sample((Message("user", "Write a reward."),), 1, "round 1")
    message = str(raised.value)
    assert "connection refused" in message and api_base in message and "start the server" in message
    assert "500" not in message and "InternalServerError" not in message and "\n" not in message
    assert sleeps == []  # retrying would not start the server

"""The global network guard: anything beyond 127.0.0.1 fails the test, even when the code swallows the error."""

from __future__ import annotations

import contextlib
import socket

import pytest

from tests.support.network_guard import NetworkBlocked, install, is_loopback


def test_loopback_addresses_pass_and_others_do_not() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "[::1]", None, b"127.0.0.5"))
    assert not any(is_loopback(h) for h in ("10.0.0.1", "8.8.8.8", "api.openai.com", "2001:db8::1"))


def test_a_connection_beyond_loopback_raises_and_is_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    guard = install(monkeypatch)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock, pytest.raises(NetworkBlocked):
        sock.connect(("192.0.2.1", 443))  # TEST-NET-1: never routable, and never tried
    with contextlib.suppress(OSError):  # swallowed, as an HTTP client would; the guard still remembers
        socket.getaddrinfo("api.openai.com", 443)
    assert guard.attempts == ["connect to '192.0.2.1'", "name lookup of 'api.openai.com'"]
    guard.attempts.clear()  # this test provoked them on purpose


def test_loopback_servers_still_work(fake_llm) -> None:
    with socket.create_connection(("127.0.0.1", fake_llm.port), timeout=5):
        pass


def test_litellm_reaching_for_a_real_provider_is_blocked(monkeypatch: pytest.MonkeyPatch) -> None:
    from rewardsmith.agent.design.llm.client import CallFailed, LLMClient, RetryPolicy
    from rewardsmith.agent.design.prompting import Message
    from rewardsmith.agent.records.config import LLMOptions
    from rewardsmith.core.errors import DesignerError

    guard = install(monkeypatch)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-a-real-key-000000")
    client = LLMClient("openai/gpt-4o-mini", LLMOptions(timeout_s=5.0), retry=RetryPolicy(max_attempts=1))
    with pytest.raises((CallFailed, DesignerError)):
        client.sample((Message("user", "hi"),), 1, "x")
    assert guard.attempts and "api.openai.com" in guard.attempts[0]
    guard.attempts.clear()

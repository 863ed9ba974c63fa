"""A guard that makes any non-loopback network use in a test fail that test (tests never touch the network).

Connections (``socket.connect``/``connect_ex``) and name lookups (``getaddrinfo``) are checked; anything but
127.0.0.1, ::1, localhost and Unix sockets raises :class:`NetworkBlocked` *and* is recorded, so the test fails
at teardown even when the code under test swallows the exception (litellm turns it into a retryable error).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


class NetworkBlocked(OSError):
    """A test tried to reach a non-loopback address."""


def is_loopback(host: object) -> bool:
    if host is None or host == "":
        return True  # getaddrinfo(None, port): the wildcard/local address, used for binding
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    text = str(host).strip("[]").lower()
    if text in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(text.split("%")[0]).is_loopback
    except ValueError:
        return False


@dataclass
class Guard:
    attempts: list[str] = field(default_factory=list)

    def check(self, what: str, host: object) -> None:
        if not is_loopback(host):
            self.attempts.append(f"{what} {host!r}")
            raise NetworkBlocked(f"network access blocked in tests: {what} {host!r} (only 127.0.0.1 is allowed)")


def install(monkeypatch: pytest.MonkeyPatch) -> Guard:
    """Patch the socket module for one test; returns the guard holding what was attempted."""
    guard = Guard()
    real_connect: Callable[..., Any] = socket.socket.connect
    real_connect_ex: Callable[..., Any] = socket.socket.connect_ex
    real_getaddrinfo: Callable[..., Any] = socket.getaddrinfo

    def _host(sock: socket.socket, address: Any) -> object:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
            return address[0]
        return None  # Unix sockets and the like stay on this machine

    def connect(self: socket.socket, address: Any) -> Any:
        guard.check("connect to", _host(self, address))
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> Any:
        guard.check("connect to", _host(self, address))
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        guard.check("name lookup of", host)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return guard

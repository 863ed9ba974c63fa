"""Who may talk to the web app: the access token, the ``Host`` a request names, and where a POST comes from.

Three checks, each against a known attack on a local web app:

- **Token.** Every request carries the per-start secret (``?token=`` once, then an HttpOnly,
  SameSite=Strict cookie). Another local user or a web page cannot guess it.
- **Host.** A page on ``evil.example`` whose DNS name is re-pointed at 127.0.0.1 (DNS rebinding)
  reaches the app with ``Host: evil.example:PORT``; only the bound address and the loopback names
  (with the port) are served.
- **Origin.** A POST must come from a page of this app: a same-origin ``Origin`` (or, when a browser
  sends none, ``Referer``), or else the per-form CSRF token the app renders into each form.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import urlsplit

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def host_name(address: str) -> str:
    """An address as it appears in a ``Host`` header: IPv6 literals in brackets."""
    return f"[{address}]" if ":" in address and not address.startswith("[") else address


@dataclass(frozen=True)
class Guard:
    """The checks for one running app: its token and the ``host:port`` names it answers to."""

    token: str
    hosts: frozenset[str]
    """Accepted ``Host`` values, e.g. ``127.0.0.1:8765``, ``localhost:8765``."""
    port: int

    @classmethod
    def for_bind(cls, token: str, host: str, port: int, extra_hosts: tuple[str, ...] = ()) -> Guard:
        """The bound address, the loopback names and ``extra_hosts`` (names a remote browser uses), each with ``port``."""
        names = {host_name(host).lower(), *LOOPBACK_NAMES, *(host_name(h).lower() for h in extra_hosts)}
        hosts = {f"{name}:{port}" for name in names}
        if port == 80:  # browsers leave the default port out of Host and Origin
            hosts |= names
        return cls(token, frozenset(hosts), port)

    @property
    def cookie(self) -> str:
        """Cookies are shared by every port of a host: one name per port keeps two UIs apart."""
        return f"rewardsmith_token_{self.port}"

    def host_ok(self, host: str | None) -> bool:
        return host is not None and host.lower() in self.hosts

    def token_ok(self, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def same_origin(self, url: str) -> bool:
        """``url`` (an Origin or a Referer) is on this app: http, and a host it answers to."""
        try:
            parts = urlsplit(url)
        except ValueError:
            return False
        return parts.scheme == "http" and parts.netloc.lower() in self.hosts

    def csrf_for(self, path: str) -> str:
        """The CSRF token of the form that posts to ``path``: derived from the secret, useless elsewhere."""
        return hmac.new(self.token.encode(), f"csrf {path}".encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, path: str, given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.csrf_for(path).encode())

    def post_allowed(self, origin: str | None, referer: str | None, path: str, csrf: str | None) -> bool:
        """A POST from a page of this app. A foreign ``Origin`` is refused whatever else the request holds."""
        if origin is not None and origin != "null":
            return self.same_origin(origin)
        if referer is not None and self.same_origin(referer):
            return True
        return self.csrf_ok(path, csrf)

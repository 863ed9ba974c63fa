"""``rewardsmith ui``: serve the web app with uvicorn, always behind a per-start access token.

The token is generated with :mod:`secrets` at each start, unless the user supplies one in a file
(``--token-file``) or in ``REWARDSMITH_UI_TOKEN`` (to keep a bookmark working across restarts). It
never comes from the command line, where every user of the machine could read it in ``ps``. The URL
that carries it is printed once.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from collections.abc import Mapping
from pathlib import Path

from rich.console import Console

from rewardsmith.core.errors import ConfigError

TOKEN_ENV = "REWARDSMITH_UI_TOKEN"
MIN_TOKEN_CHARS = 16
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})


def ui_token(token_file: Path | None, environ: Mapping[str, str]) -> str:
    """The access token: from ``token_file``, else ``$REWARDSMITH_UI_TOKEN``, else a fresh random one."""
    if token_file is not None:
        try:
            token, where = token_file.read_text(encoding="utf-8").strip(), f"--token-file {token_file}"
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"--token-file {token_file}: cannot read it ({getattr(exc, 'strerror', None) or exc})"
                              ) from None
    elif environ.get(TOKEN_ENV):
        token, where = environ[TOKEN_ENV].strip(), TOKEN_ENV
    else:
        return secrets.token_urlsafe(24)
    if len(token) < MIN_TOKEN_CHARS or any(c.isspace() or not c.isprintable() for c in token):
        raise ConfigError(f"{where}: the token must be at least {MIN_TOKEN_CHARS} printable characters without "
                          "spaces (e.g. python -c 'import secrets; print(secrets.token_urlsafe(24))')")
    return token


def machine_names(host: str) -> tuple[str, ...]:
    """Names a remote browser may use for this machine when the UI binds to every interface."""
    if host not in WILDCARD_HOSTS:
        return ()
    names = {socket.gethostname(), socket.getfqdn()}
    with contextlib.suppress(OSError):  # no resolvable name: the bare hostname still works
        names |= {str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None)}
    return tuple(sorted(n for n in names if n))


def serve(runs_dir: Path, host: str, port: int, token_file: Path | None, console: Console, *,
          allow_hosts: tuple[str, ...] = (), environ: Mapping[str, str] | None = None) -> int:
    """Serve the UI over ``runs_dir`` until interrupted.

    Args:
        runs_dir: the directory holding run directories.
        host: address to bind; answers only to ``Host`` headers naming it (or a loopback name, or
            ``allow_hosts``, or this machine's names for a wildcard bind), with ``port``.
        port: TCP port.
        token_file: a file holding the access token; None: ``$REWARDSMITH_UI_TOKEN`` or a random one.
        console: where the URL is printed.
        allow_hosts: further host names a browser may use to reach this server (a DNS name, a proxy).
        environ: the environment to read the token from (default ``os.environ``).
    """
    import uvicorn

    from rewardsmith.agent.app.web.app import create_app
    from rewardsmith.agent.app.web.guard import Guard, host_name

    if not runs_dir.is_dir():
        raise ConfigError(f"--runs {runs_dir}: no such directory")
    if not 0 < port < 65536:
        raise ConfigError(f"--port must be between 1 and 65535, got {port}")
    token = ui_token(token_file, os.environ if environ is None else environ)
    guard = Guard.for_bind(token, host, port, (*allow_hosts, *machine_names(host)))
    shown = host_name(host) if host not in WILDCARD_HOSTS else host_name(socket.gethostname())
    console.print(f"RewardSmith UI for {runs_dir.resolve()}: http://{shown}:{port}/?token={token}", markup=False)
    uvicorn.run(create_app(runs_dir, guard), host=host, port=port, log_level="warning")
    return 0

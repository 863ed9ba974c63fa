"""``rewardsmith ui``: serve the web app with uvicorn, on 127.0.0.1 unless told otherwise (then with a token)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from core.errors import ConfigError

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def check_bind(host: str, token: str | None) -> None:
    """Binding beyond this machine exposes the runs (and the power to steer them): it needs a token."""
    if host not in LOCAL_HOSTS and not token:
        raise ConfigError(f"--host {host} makes the UI reachable from other machines; give --token SECRET too "
                          "(or bind to 127.0.0.1)")


def serve(runs_dir: Path, host: str, port: int, token: str | None, console: Console) -> int:
    import uvicorn

    from agent.web.app import create_app

    check_bind(host, token)
    if not runs_dir.is_dir():
        raise ConfigError(f"--runs {runs_dir}: no such directory")
    if not 0 < port < 65536:
        raise ConfigError(f"--port must be between 1 and 65535, got {port}")
    shown = f"[{host}]" if ":" in host else host
    console.print(f"RewardSmith UI for {runs_dir.resolve()}: http://{shown}:{port}/"
                  + (f"?token={token}" if token else ""), markup=False)
    uvicorn.run(create_app(runs_dir, token if host not in LOCAL_HOSTS or token else None), host=host, port=port,
                log_level="warning")
    return 0

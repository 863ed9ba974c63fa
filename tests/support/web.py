"""A test client for the web app that has opened the printed link, as a browser would."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from rewardsmith.agent.app.web.app import create_app
from rewardsmith.agent.app.web.guard import Guard

TOKEN = "s3cret-token-for-tests"
PORT = 8765
BASE = f"http://127.0.0.1:{PORT}"


def client_for(runs: Path, origin: str | None = BASE, base_url: str = BASE) -> TestClient:
    """A client that has opened the printed link (so it holds the cookie) and sends ``Origin`` on every request."""
    client = TestClient(create_app(runs, Guard.for_bind(TOKEN, "127.0.0.1", PORT)), base_url=base_url,
                        headers={"origin": origin} if origin else {})
    assert client.get(f"/?token={TOKEN}").status_code == 200
    return client

"""Test helpers: run an origin app under a real uvicorn server in a thread; fast test accounts."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette

from origin.config import AccountSettings, OriginConfig, PipelineSettings
from streamfleet.httpkit import uvicorn_config
from streamfleet.launcher import free_port

# argon2 at its cheapest: tests exercise the logic, not the cost.
FAST_ACCOUNTS = AccountSettings(argon2_time_cost=1, argon2_memory_kib=64, argon2_parallelism=1)
PASSWORD = "correct horse battery"


def origin_config(tmp_path: Path, **overrides: Any) -> OriginConfig:
    """A config under ``tmp_path`` with cheap password hashing and no in-process worker."""
    overrides.setdefault("accounts", FAST_ACCOUNTS)
    overrides.setdefault("pipeline", PipelineSettings(workers=0))
    return OriginConfig(data_dir=tmp_path / "origin", **overrides)


@contextlib.contextmanager
def serving(app: Starlette, **kwargs: Any) -> Iterator[httpx.Client]:
    """Run ``app`` under uvicorn in a thread; yields a client bound to it."""
    port = free_port()
    server = uvicorn.Server(uvicorn_config(app, "127.0.0.1", port, **kwargs))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(15)


def login(client: httpx.Client, username: str, role: str = "viewer", password: str = PASSWORD) -> str:
    """Sign ``username`` up with ``role`` (if new) and log in; returns the session token."""
    client.post("/v1/accounts", json={"username": username, "password": password, "role": role})
    response = client.post("/v1/sessions", json={"username": username, "password": password})
    assert response.status_code == 201, response.text
    client.cookies.clear()  # tests choose explicitly between the cookie and the bearer header
    token: str = response.json()["token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}

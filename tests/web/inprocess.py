"""Run an ASGI app under uvicorn in a thread on a free loopback port (tests only)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp

from streamfleet.httpkit import uvicorn_config
from streamfleet.launcher import free_port


@contextlib.contextmanager
def serving(app: ASGIApp) -> Iterator[str]:
    """Serve ``app``; yields its base URL and stops the server (lifespan included) on exit."""
    port = free_port()
    server = uvicorn.Server(uvicorn_config(app, "127.0.0.1", port, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the app did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)

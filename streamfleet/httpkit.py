"""Small HTTP helpers shared by the HTTP services: JSON errors and running an app under uvicorn."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import uvicorn
from starlette.responses import JSONResponse
from starlette.types import ASGIApp


def json_error(status: int, message: str, **extra: Any) -> JSONResponse:
    """The one error body shape of every HTTP API: {"error": {"status", "message", ...}}."""
    return JSONResponse({"error": {"status": status, "message": message, **extra}}, status_code=status)


def uvicorn_config(app: ASGIApp, host: str, port: int, **kwargs: Any) -> uvicorn.Config:
    """A uvicorn config with our defaults: no uvicorn log config (we log JSON), sane limits."""
    kwargs.setdefault("timeout_keep_alive", 15)
    kwargs.setdefault("timeout_graceful_shutdown", 10)
    kwargs.setdefault("h11_max_incomplete_event_size", 16 * 1024)
    # Client addresses matter (steering localises by them): never let uvicorn rewrite them from
    # X-Forwarded-For on its own; services decide which proxies they trust.
    kwargs.setdefault("proxy_headers", False)
    return uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, **kwargs)


def quiet_exit_signals() -> None:
    """Make SIGTERM/SIGINT no-ops outside uvicorn's own handling.

    uvicorn restores the previous handlers when it stops and re-raises the signal it caught;
    with the default handlers that would kill the process (-15) instead of a clean exit 0.
    """
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: None)


def serve(app: ASGIApp, host: str, port: int, **kwargs: Any) -> None:
    """Run ``app`` until SIGTERM/SIGINT, then finish in-flight requests and return."""
    server = uvicorn.Server(uvicorn_config(app, host, port, **kwargs))
    quiet_exit_signals()
    asyncio.run(server.serve())

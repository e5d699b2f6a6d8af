"""Small HTTP helpers shared by the HTTP services: JSON errors, request bodies, running under uvicorn."""

from __future__ import annotations

import asyncio
import json
import signal
from typing import Any

import uvicorn
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp

from .httpguard import HttpSettings, guarded_protocol


def json_error(status: int, message: str, **extra: Any) -> JSONResponse:
    """The one error body shape of every HTTP API: {"error": {"status", "message", ...}}."""
    return JSONResponse({"error": {"status": status, "message": message, **extra}}, status_code=status)


class BodyError(Exception):
    """A request body that cannot be used; ``status`` is the answer (400, or 413 when too large)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def read_body(request: Request, limit: int) -> bytes:
    """The whole request body, at most ``limit`` bytes.

    Raises BodyError: 413 as soon as the declared or received size passes ``limit`` (nothing more
    is read or kept), 400 when the client goes away before the body is complete.
    """
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise BodyError(413, f"body: larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BodyError(413, f"body: larger than {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise BodyError(400, "body: the client went away before sending it whole") from None
    return b"".join(chunks)


async def read_json_object(request: Request, limit: int, *, empty_ok: bool = False) -> dict[str, Any]:
    """The request body as a JSON object (an empty body is ``{}`` when ``empty_ok``).

    Raises BodyError: 413 past ``limit`` bytes, 400 for anything but a JSON object.
    """
    raw = await read_body(request, limit)
    if empty_ok and not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested past the parser's stack
        raise BodyError(400, "body: not valid JSON") from None
    if not isinstance(body, dict):
        raise BodyError(400, "body: expected a JSON object")
    return body


def uvicorn_config(
    app: ASGIApp, host: str, port: int, limits: HttpSettings | None = None, **kwargs: Any
) -> uvicorn.Config:
    """A uvicorn config with our defaults: no uvicorn log config (we log JSON), ``limits`` (the
    service's ``[http]`` section; None: its defaults) enforced by the guarded protocol."""
    limits = limits or HttpSettings()
    kwargs.setdefault("http", guarded_protocol(limits))
    kwargs.setdefault("timeout_keep_alive", limits.keepalive_timeout_seconds)
    kwargs.setdefault("limit_concurrency", limits.max_connections)
    kwargs.setdefault("timeout_graceful_shutdown", 10)
    kwargs.setdefault("h11_max_incomplete_event_size", limits.max_header_bytes)
    # Client addresses matter (steering localises by them, the origin throttles logins by them):
    # never let uvicorn rewrite them from X-Forwarded-For on its own; services decide which
    # proxies they trust (streamfleet.clientip).
    kwargs.setdefault("proxy_headers", False)
    return uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False, **kwargs)


def quiet_exit_signals() -> None:
    """Make SIGTERM/SIGINT no-ops outside uvicorn's own handling.

    uvicorn restores the previous handlers when it stops and re-raises the signal it caught;
    with the default handlers that would kill the process (-15) instead of a clean exit 0.
    """
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: None)


def serve(app: ASGIApp, host: str, port: int, limits: HttpSettings | None = None, **kwargs: Any) -> None:
    """Run ``app`` under ``limits`` until SIGTERM/SIGINT, then finish in-flight requests and return."""
    server = uvicorn.Server(uvicorn_config(app, host, port, limits, **kwargs))
    quiet_exit_signals()
    asyncio.run(server.serve())

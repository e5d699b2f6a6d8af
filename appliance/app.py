"""HTTP adapter: signed chunk requests served from disk or filled upstream, health, metrics, admin."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from streamfleet.accesslog import request_middleware
from streamfleet.addressing import AddressError, ChunkKey, parse_signed_path
from streamfleet.httpkit import json_error

from . import openapi
from .config import ApplianceConfig
from .core import Appliance, etag_of
from .errors import ApplianceError, ChunkTooLarge, UnknownContent, UpstreamError, UpstreamTimeout
from .httpwire import etag_matches
from .responses import ChunkFileResponse
from .stats import ServingStats
from .streaming import stream_behind_fill
from .upstream import ONLY_IF_CACHED, PEER_FILL_HEADER

log = logging.getLogger(__name__)


def build_app(
    config: ApplianceConfig,
    *,
    clock: Callable[[], float] = time.time,
    origin_transport: httpx.AsyncBaseTransport | None = None,
    run_agent: bool = True,
) -> Starlette:
    """The appliance's ASGI app. ``clock`` (unix seconds) decides token expiry;
    ``origin_transport`` replaces the network to the origin (tests); ``run_agent=False`` skips
    the control-plane agent. The store is opened (index rebuilt) during lifespan start-up.
    ``app.state.appliance`` is the :class:`Appliance` the fast server shares.
    """
    appliance = Appliance(config, clock=clock, origin_transport=origin_transport, run_agent=run_agent)
    store, stats = appliance.store, appliance.stats

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await appliance.start()
        try:
            yield
        finally:
            await appliance.stop()

    async def content(request: Request) -> Response:
        try:
            token, key = parse_signed_path(request.url.path)
        except AddressError as exc:
            return json_error(404, str(exc))
        # The token is checked before anything else: a bad one never reaches disk or origin.
        if not appliance.token_ok(token, key):
            return json_error(403, "invalid or expired token")
        peer_request = PEER_FILL_HEADER in request.headers
        if peer_request:
            stats.peer_requests += 1
        if ONLY_IF_CACHED in request.headers.get("cache-control", "").lower() and key not in store:
            # A peer's fill asks only for what we hold (RFC 9111: 504); not an error of ours.
            return json_error(504, f"{key.cache_key} is not cached here")
        try:
            streamed = await stream_behind_fill(appliance, request, key, peer_request)
            if isinstance(streamed, Response):
                return streamed
            served = streamed or await appliance.obtain(key, peer_request=peer_request)
        except ApplianceError as exc:
            response = _error_response(key, exc)
            stats.count("error", len(response.body))
            return response
        chunk = served.chunk
        headers = {"etag": etag_of(chunk), "x-cache": served.cache}
        inm = request.headers.get("if-none-match")
        if inm is not None and etag_matches(inm, headers["etag"]):
            store.unpin(key)
            stats.count(served.result, 0)
            return Response(status_code=304, headers=headers)

        def done(sent: int) -> None:
            store.unpin(key)
            stats.count(served.result, sent)

        return ChunkFileResponse(chunk, headers, key.content_type, done)

    async def healthz(request: Request) -> Response:
        health = await appliance.health()
        return JSONResponse(health.body, status_code=200 if health.ok else 503)

    spec = JSONResponse(openapi.document()).body

    async def openapi_endpoint(request: Request) -> Response:
        return Response(spec, media_type="application/json")

    async def metrics_endpoint(request: Request) -> Response:
        return Response(generate_latest(appliance.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def drain(request: Request) -> Response:
        if not _admin_ok(config.admin_token, request.headers.get("authorization", "")):
            return json_error(403, "admin token required")
        undo = request.query_params.get("undo", "").lower() in ("1", "true", "yes")
        if appliance.draining != (not undo):
            appliance.draining = not undo
            log.warning("drain state changed", extra={"draining": appliance.draining})
        return JSONResponse({"appliance": config.id, "draining": appliance.draining})

    app = Starlette(
        routes=[
            Route("/s/{rest:path}", content, methods=["GET", "HEAD"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            Route("/admin/drain", drain, methods=["POST"]),
            Route("/openapi.json", openapi_endpoint, methods=["GET"]),
        ],
        # The viewer's request id (from steering, via the player) follows a miss upstream.
        middleware=[*request_middleware(config.access_log, mint=False),
                    Middleware(_ServedBy, appliance_id=config.id, stats=stats)],
        exception_handlers={HTTPException: _http_exception},
        lifespan=lifespan,
    )
    app.state.appliance = appliance
    return app


def _admin_ok(expected: str, authorization: str) -> bool:
    """Constant-time check of ``Authorization: Bearer <admin_token>``; an empty token disables it."""
    scheme, _, given = authorization.partition(" ")
    return bool(expected) and scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), expected)


def _error_response(key: ChunkKey, exc: ApplianceError) -> JSONResponse:
    """Map a domain error to its HTTP status; the only place that does."""
    if isinstance(exc, UnknownContent):
        return json_error(404, str(exc))
    if isinstance(exc, UpstreamTimeout):
        log.warning("upstream timeout", extra={"key": key.cache_key, "error": str(exc)})
        return json_error(504, "origin timed out")
    if isinstance(exc, UpstreamError):
        log.warning("upstream error", extra={"key": key.cache_key, "error": str(exc)})
        return json_error(502, str(exc))
    if isinstance(exc, ChunkTooLarge):
        return json_error(503, "chunk too large for this appliance")
    log.error("cannot serve chunk", extra={"key": key.cache_key, "error": str(exc)})
    return json_error(503, "appliance cannot store chunks right now")


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return json_error(exc.status_code, exc.detail)


class _ServedBy:
    """Stamps X-Served-By on every response and counts requests in flight."""

    def __init__(self, app: ASGIApp, appliance_id: str, stats: ServingStats) -> None:
        self._app = app
        self._id = appliance_id
        self._stats = stats

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("x-served-by", self._id)
            await send(message)

        self._stats.in_flight += 1
        try:
            await self._app(scope, receive, stamped)
        finally:
            self._stats.in_flight -= 1

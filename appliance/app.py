"""HTTP adapter: signed chunk requests served from disk or filled from the origin, plus health."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
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

from streamfleet import tokens
from streamfleet.addressing import AddressError, ChunkKey, parse_signed_path
from streamfleet.httpkit import json_error

from .agent import FleetAgent, LoadReport
from .catalog import Catalog, FileInfo
from .config import ApplianceConfig
from .errors import (
    ApplianceError,
    ChunkTooLarge,
    NotStored,
    StoreError,
    UnknownContent,
    UpstreamError,
    UpstreamTimeout,
)
from .metrics import ApplianceMetrics
from .responses import ChunkFileResponse
from .stats import ServingStats
from .store import ChunkStore, StoredChunk
from .upstream import MissFetcher

log = logging.getLogger(__name__)

# A chunk evicted between its fill and its pin (a store smaller than the working set) is
# fetched again this many times before the request gives up with a 503.
_FILL_ATTEMPTS = 2


@dataclass
class _Live:
    """Resources that exist only between lifespan start-up and shutdown."""

    catalog: Catalog
    fetcher: MissFetcher
    agent: FleetAgent | None


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
    """
    keyring = config.tokens.keyring()
    leeway = config.tokens.leeway_seconds
    store = ChunkStore(config.data_dir, config.capacity_bytes)
    stats = ServingStats()
    metrics = ApplianceMetrics(stats, store)

    async def report() -> LoadReport:
        return LoadReport(
            healthy=await anyio.to_thread.run_sync(store.check_writable),
            disk_used_bytes=store.used_bytes,
            disk_capacity_bytes=store.capacity_bytes,
            connections=stats.in_flight,
            hits=stats.hits,
            misses=stats.misses,
            errors=stats.errors,
            bytes_sent=stats.bytes_sent,
            titles=store.titles(),
        )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        await anyio.to_thread.run_sync(store.open)
        client = httpx.AsyncClient(
            transport=origin_transport,
            timeout=httpx.Timeout(config.upstream_timeout_s),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            headers={"user-agent": f"streamfleet-appliance/{config.id}"},
        )
        catalog = Catalog(client, config.origin_url, config.catalog_ttl_s, config.catalog_negative_ttl_s)
        fetcher = MissFetcher(
            client, config.origin_url, catalog, store, keyring, clock=clock, observe=metrics.observe_upstream
        )
        agent = FleetAgent(config, report) if run_agent else None
        if agent is not None:
            agent.start()
        log.info(
            "appliance ready", extra={"appliance": config.id, "site": config.site, "url": config.http_url}
        )
        try:
            yield {"live": _Live(catalog, fetcher, agent)}
        finally:
            if agent is not None:
                await agent.stop()
            await fetcher.close()
            await catalog.close()
            await client.aclose()

    async def content(request: Request) -> Response:
        live: _Live = request.state.live
        try:
            token, key = parse_signed_path(request.url.path)
        except AddressError as exc:
            return json_error(404, str(exc))
        # The token is checked before anything else: a bad one never reaches disk or origin.
        try:
            tokens.verify(keyring, token, key.title, clock(), leeway)
        except tokens.TokenError as exc:
            stats.rejected += 1
            log.info("token rejected", extra={"title": key.title, "reason": str(exc)})
            return json_error(403, "invalid or expired token")
        try:
            chunk, info, cache = await _obtain(live, key)
        except ApplianceError as exc:
            stats.errors += 1
            return _error_response(key, exc)
        hit = cache == "HIT"
        if hit:
            stats.hits += 1
        else:
            stats.misses += 1
        headers = {"etag": _etag(chunk, info), "x-cache": cache}
        inm = request.headers.get("if-none-match")
        if inm is not None and _etag_matches(inm, headers["etag"]):
            store.unpin(key)
            return Response(status_code=304, headers=headers)

        def done(sent: int) -> None:
            store.unpin(key)
            if hit:
                stats.hit_bytes += sent
            else:
                stats.miss_bytes += sent

        return ChunkFileResponse(chunk, headers, key.content_type, done)

    async def _obtain(live: _Live, key: ChunkKey) -> tuple[StoredChunk, FileInfo | None, str]:
        """The pinned chunk, its catalog entry if known, and HIT or MISS. Raises ApplianceError."""
        try:
            return store.pin(key), live.catalog.peek(key), "HIT"
        except NotStored:
            pass
        for _ in range(_FILL_ATTEMPTS):
            info = await live.fetcher.fill(key)
            try:
                return store.pin(key), info, "MISS"
            except NotStored:
                continue
        raise StoreError(f"{key.cache_key} was evicted before it could be served")

    async def healthz(request: Request) -> Response:
        writable = await anyio.to_thread.run_sync(store.check_writable)
        body = {
            "status": "ok" if writable else "unhealthy",
            "appliance": config.id,
            "site": config.site,
            "disk_used_bytes": store.used_bytes,
            "disk_capacity_bytes": store.capacity_bytes,
            "chunks": len(store),
        }
        if not writable:
            body["reason"] = "chunk store is not writable"
        return JSONResponse(body, status_code=200 if writable else 503)

    async def metrics_endpoint(request: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/s/{rest:path}", content, methods=["GET", "HEAD"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
        ],
        middleware=[Middleware(_ServedBy, appliance_id=config.id, stats=stats)],
        exception_handlers={HTTPException: _http_exception},
        lifespan=lifespan,
    )


def _error_response(key: ChunkKey, exc: ApplianceError) -> Response:
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


def _etag(chunk: StoredChunk, info: FileInfo | None) -> str:
    """The catalog's sha256 when known (what the origin uses), else size and mtime of the file."""
    if info is not None and info.size == chunk.size:
        return f'"{info.sha256}"'
    return f'"{chunk.size:x}-{chunk.stat.st_mtime_ns:x}"'


def _etag_matches(if_none_match: str, etag: str) -> bool:
    """If-None-Match uses weak comparison: W/ prefixes are ignored; "*" matches anything."""
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))


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

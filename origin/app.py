"""The origin's HTTP API (Starlette): catalog reads and signed file serving for appliance misses."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio.to_thread
from cachetools import TTLCache
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from streamfleet.accesslog import redact_path, request_middleware
from streamfleet.addressing import AddressError, parse_signed_path
from streamfleet.httpkit import json_error
from streamfleet.tokens import Keyring, TokenError, verify

from . import openapi
from .accounts import AccountStore
from .app_accounts import AccountRoutes
from .app_catalog import CatalogRoutes, query_limit
from .app_uploads import UploadRoutes
from .catalog import READY, Catalog, Title, TitleDetail, TitleMeta
from .config import OriginConfig
from .db import open_databases
from .errors import MalformedRange, ObjectNotFound, RangeNotSatisfiable, TitleNotFound
from .jobs import JobQueue
from .metrics import MetricsMiddleware, OriginMetrics
from .pipeline import progress
from .ranges import parse_range
from .ratelimit import FailureLimiter
from .store import ObjectInfo, open_object_store
from .streaming import ObjectResponse
from .uploads import UploadStore
from .web import Authenticator, Resources
from .worker import WorkerPool

log = logging.getLogger(__name__)

# Ready titles never change (a re-encode is a new id), so their file maps can be cached briefly;
# the TTL only bounds how long a deleted title lingers.
DETAIL_CACHE_SECONDS = 30.0
DETAIL_CACHE_TITLES = 256
# Stored objects are immutable under their key.
CACHE_CONTROL = "public, max-age=31536000, immutable"


class _RangedFileResponse(FileResponse):
    """FileResponse fed only the Range we validated (canonical form), or none for a full body."""

    def __init__(self, path: Path, ranges: list[tuple[int, int]] | None, **kwargs: Any) -> None:
        super().__init__(path, **kwargs)
        self.ranges = ranges

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(k, v) for k, v in scope["headers"] if k not in (b"range", b"if-range")]
        if self.ranges:
            spec = ",".join(f"{start}-{end - 1}" for start, end in self.ranges)
            headers.append((b"range", f"bytes={spec}".encode()))
        await super().__call__({**scope, "headers": headers}, receive, send)


def _title_summary(title: Title) -> dict[str, Any]:
    return {"id": title.id, "name": title.name, "status": title.status,
            "duration_s": title.duration_s, "created": title.created}


def _title_json(detail: TitleDetail) -> dict[str, Any]:
    return {
        **_title_summary(detail.title),
        "renditions": [{"name": r.name, "width": r.width, "height": r.height, "bandwidth": r.bandwidth}
                       for r in detail.renditions],
        "files": {k: {"size": f.size, "sha256": f.sha256} for k, f in detail.files.items()},
    }


def _meta_json(meta: TitleMeta) -> dict[str, Any]:
    out: dict[str, Any] = {"description": meta.description, "tags": list(meta.tags), "cast": list(meta.cast),
                           "release_date": meta.release_date, "plays": meta.plays}
    if meta.error:
        out["error"] = meta.error
    return out


def _etag_matches(if_none_match: str, etag: str) -> bool:
    """Weak comparison of If-None-Match against our ETag (RFC 9110 section 13.1.2)."""
    if if_none_match.strip() == "*":
        return True
    tags = (t.strip() for t in if_none_match.split(","))
    return any((t[2:] if t.startswith("W/") else t) == etag for t in tags)


class OriginApi:
    """Endpoints; each takes its resources from the request's lifespan state."""

    def __init__(self, config: OriginConfig, keyring: Keyring, metrics: OriginMetrics,
                 clock: Callable[[], float]) -> None:
        self.config = config
        self.keyring = keyring
        self._metrics = metrics
        self.clock = clock
        self._openapi = json.dumps(openapi.document(config)).encode()

    @staticmethod
    def _resources(request: Request) -> Resources:
        resources: Resources = request.state.resources
        return resources

    async def _detail(self, res: Resources, title_id: str) -> TitleDetail:
        """The title's detail; cached once ready. Raises TitleNotFound."""
        cached = res.details.get(title_id)
        if cached is not None:
            return cached
        detail = await anyio.to_thread.run_sync(res.catalog.detail, title_id)
        if detail.title.status == READY:
            res.details[title_id] = detail
        return detail

    async def titles(self, request: Request) -> Response:
        res = self._resources(request)
        sort = request.query_params.get("sort", "created")
        tag = request.query_params.get("tag") or None
        limit = query_limit(request, 50)
        if sort not in ("new", "popular", "created") or limit is None:
            return json_error(400, "sort must be new, popular or created; limit a positive integer")
        if sort == "created" and tag is None:
            titles = await anyio.to_thread.run_sync(res.catalog.list_titles)
        else:
            order = "new" if sort == "created" else sort
            titles = await anyio.to_thread.run_sync(res.catalog.ranked_titles, order, limit, tag)
        return JSONResponse({"titles": [_title_summary(t) for t in titles]})

    async def title(self, request: Request) -> Response:
        title_id = str(request.path_params["title"])
        res = self._resources(request)
        try:
            detail = await self._detail(res, title_id)
            meta, jobs = await anyio.to_thread.run_sync(
                lambda: (res.catalog.meta(title_id), res.queue.jobs(title_id)))
        except TitleNotFound:
            return json_error(404, f"unknown title {title_id[:80]!r}")
        body = {**_title_json(detail), **_meta_json(meta)}
        if jobs:
            body["progress"] = progress(jobs)
        return JSONResponse(body)

    async def file(self, request: Request) -> Response:
        # 1. The path becomes a typed key or nothing: no user string reaches the filesystem.
        try:
            token, key = parse_signed_path(request.scope["path"])
        except AddressError:
            return json_error(404, "no such content")
        # 2. The token is checked before anything is read.
        try:
            verify(self.keyring, token, key.title, self.clock(), self.config.tokens.leeway_seconds)
        except TokenError as exc:
            self._metrics.token_rejections.inc()
            log.info("token refused", extra={"title": key.title, "reason": str(exc)})
            return json_error(403, "invalid or expired token")
        # 3. Catalog: the title must be ready and list the file (its checksum is the ETag).
        res = self._resources(request)
        try:
            detail = await self._detail(res, key.title)
        except TitleNotFound:
            return json_error(404, f"unknown title {key.title!r}")
        info = detail.files.get(key.cache_key)
        if detail.title.status != READY or info is None:
            return json_error(404, f"unknown file {key.cache_key!r}")
        etag = f'"{info.sha256}"'
        headers = {"etag": etag, "cache-control": CACHE_CONTROL, "accept-ranges": "bytes"}
        if_none_match = request.headers.get("if-none-match")
        if if_none_match is not None and _etag_matches(if_none_match, etag):
            return Response(status_code=304, headers=headers)
        # 4. Store.
        try:
            stored: ObjectInfo = await anyio.to_thread.run_sync(res.store.stat, key)
        except ObjectNotFound:
            log.error("catalogued object missing from the store", extra={"key": key.cache_key})
            return json_error(404, f"unknown file {key.cache_key!r}")
        # 5. Ranges (only when If-Range, if any, still names this object).
        ranges: list[tuple[int, int]] | None = None
        range_header = request.headers.get("range")
        if_range = request.headers.get("if-range")
        if range_header is not None and (if_range is None or if_range.strip() == etag):
            try:
                ranges = parse_range(range_header, stored.size)
            except MalformedRange as exc:
                return json_error(400, str(exc))
            except RangeNotSatisfiable as exc:
                response = json_error(416, str(exc))
                response.headers["content-range"] = f"bytes */{exc.size}"
                return response
        path = res.store.local_path(key)
        if path is None:  # a remote store: ranged reads streamed through this process
            return ObjectResponse(res.store, key, stored.size, ranges, key.content_type, headers)
        return _RangedFileResponse(path, ranges, media_type=key.content_type, headers=headers)

    async def healthz(self, request: Request) -> Response:
        res = self._resources(request)
        try:
            await anyio.to_thread.run_sync(res.catalog.ping)
            await anyio.to_thread.run_sync(res.store.check)
        except Exception as exc:  # any failure means unhealthy, and the reason is reported
            return JSONResponse({"status": "unhealthy", "error": str(exc)}, status_code=503)
        return JSONResponse({"status": "ok", "service": "origin"})

    async def metrics(self, request: Request) -> Response:
        return Response(generate_latest(self._metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def openapi(self, request: Request) -> Response:
        return Response(self._openapi, media_type="application/json")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    response = json_error(exc.status_code, str(exc.detail))
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error", extra={"path": redact_path(request.url.path)})
    return json_error(500, "internal error")


def build_app(config: OriginConfig, clock: Callable[[], float] = time.time) -> Starlette:
    """The origin's ASGI app. Opens the catalog and store in its lifespan; ``clock`` (wall-clock
    seconds) checks tokens and sessions and times login throttling, whose counts other origin
    copies share through the database.

    Raises ValueError at once when the token or session keys are unusable.
    """
    metrics = OriginMetrics()
    api = OriginApi(config, config.tokens.keyring(), metrics, clock)
    auth = Authenticator(config.sessions, clock)
    accounts = AccountRoutes(config, auth, clock)
    uploads = UploadRoutes(config, auth, clock)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        if not config.object_store_url:
            config.objects_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.ExitStack() as stack:
            databases = open_databases([config.catalog_db, config.accounts_db, config.jobs_db])
            for database in {id(d): d for d in databases}.values():
                stack.callback(database.close)
            catalog = Catalog(databases[0])
            account_store = AccountStore(databases[1], config.accounts, clock)
            queue = JobQueue(databases[2], config.pipeline.max_attempts, clock)
            store = open_object_store(config.object_store_url, config.objects_dir)
            stack.callback(store.close)
            upload_store = UploadStore(config.uploads_dir, config.uploads.max_size, clock)
            upload_store.expire(config.uploads.expire_seconds)  # abandoned uploads, at start-up
            if config.pipeline.workers > 0:
                pool = WorkerPool(config, config.pipeline.workers)
                pool.start()
                stack.callback(pool.close)
            logins = FailureLimiter(databases[1], config.accounts.failure_window_seconds, clock)
            yield {"resources": Resources(catalog, store,
                                          TTLCache(DETAIL_CACHE_TITLES, DETAIL_CACHE_SECONDS),
                                          account_store, upload_store, queue, logins)}

    routes = [
        Route("/v1/titles", api.titles, methods=["GET"], name="titles"),
        Route("/v1/titles/{title}", api.title, methods=["GET"], name="title"),
        Route("/s/{path:path}", api.file, methods=["GET", "HEAD"], name="file"),
        *accounts.routes(),
        *uploads.routes(),
        *CatalogRoutes(auth, config.max_json_body_bytes).routes(),
        Route("/healthz", api.healthz, methods=["GET"], name="healthz"),
        Route("/metrics", api.metrics, methods=["GET"], name="metrics"),
        Route("/openapi.json", api.openapi, methods=["GET"], name="openapi"),
    ]
    return Starlette(
        routes=routes,
        middleware=[*request_middleware(config.access_log, trusted_proxies=config.trusted_proxies),
                    Middleware(MetricsMiddleware, metrics=metrics)],
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
        lifespan=lifespan,
    )

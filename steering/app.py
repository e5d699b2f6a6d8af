"""Steering's HTTP adapter: POST /v1/playback answers with ranked, signed URLs; /healthz; /metrics."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from streamfleet import addressing, requestid, tokens
from streamfleet.accesslog import request_middleware
from streamfleet.clientip import ProxyTrust
from streamfleet.httpkit import BodyError, json_error, read_body

from . import openapi
from .auth import SessionGate
from .catalog import TitleCatalog, TitleLookup
from .config import SteeringConfig
from .coverage import CoverageFile
from .errors import (
    CatalogUnavailable,
    InvalidRequest,
    RequestTimeout,
    RequestTooLarge,
    SteeringError,
    Unauthenticated,
    UnknownTitle,
)
from .fleet import FleetSource
from .geo import GeoLocator, MaxMindLocator
from .metrics import SteeringMetrics
from .popularity import PopularityReporter
from .ranking import Decision, Ranker, RankingPolicy
from .watcher import FleetWatcher

log = logging.getLogger(__name__)

_STATUS = {
    InvalidRequest: 400,
    Unauthenticated: 401,
    UnknownTitle: 404,
    RequestTimeout: 408,
    RequestTooLarge: 413,
    CatalogUnavailable: 503,
}
_JSON = "application/json"


class _Runtime:
    """Resources that live from lifespan start to stop (one per app, never module-level)."""

    catalog: TitleLookup | None = None
    popularity: PopularityReporter | None = None


def build_app(
    config: SteeringConfig,
    *,
    fleet: FleetSource | None = None,
    catalog: TitleLookup | None = None,
    origin_transport: httpx.AsyncBaseTransport | None = None,
    control_plane_transport: httpx.AsyncBaseTransport | None = None,
    geo: GeoLocator | None = None,
    clock: Callable[[], float] = time.time,
    monotonic: Callable[[], float] = time.monotonic,
) -> Starlette:
    """The steering app.

    ``fleet``: where fleet views come from (default: a FleetWatcher on config.control_plane,
    started and stopped with the app). ``catalog``: title lookups (default: the origin's catalog
    over HTTP, through ``origin_transport`` when given). ``control_plane_transport``: for the
    popularity reports. ``geo``: client locations (default: config.geoip_database, if set).
    ``clock``: unix time for token expiry and sessions; ``monotonic``: load decay, coverage checks.
    Raises GeoDatabaseError when a configured GeoIP database cannot be opened.
    """
    keyring = config.tokens.keyring()
    trust = ProxyTrust(config.trusted_proxies)
    gate = SessionGate(config.sessions, required=config.require_session, clock=clock)
    coverage = (
        CoverageFile(
            Path(config.coverage_file), check_interval=config.coverage_check_seconds, clock=monotonic
        )
        if config.coverage_file
        else None
    )
    if geo is None and config.geoip_database:
        geo = MaxMindLocator(Path(config.geoip_database))
    policy = RankingPolicy(
        config.default_site,
        config.max_appliance_urls,
        config.player_origin_url,
        load_balance_factor=config.load_balance_factor,
        load_bound_floor=config.load_bound_floor,
        fallback_sites=config.fallback_sites,
    )
    ranker = Ranker(
        policy,
        coverage=coverage.zones if coverage is not None else None,
        geo=geo,
        cache_size=config.ranking_cache_size,
        assignment_window=config.assignment_window_seconds,
        clock=monotonic,
    )
    watcher = None
    if fleet is None:
        watcher = FleetWatcher(
            config.control_plane,
            backoff_initial=config.watch_backoff_initial_seconds,
            backoff_max=config.watch_backoff_max_seconds,
        )
        fleet = watcher
    source: FleetSource = fleet
    runtime = _Runtime()
    runtime.catalog = catalog
    metrics = SteeringMetrics(
        source,
        coverage_zones=lambda: float(len(coverage.zones())) if coverage is not None else 0.0,
        popularity_pending=lambda: float(runtime.popularity.pending_titles) if runtime.popularity else 0.0,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with (
            httpx.AsyncClient(transport=origin_transport) as client,
            httpx.AsyncClient(transport=control_plane_transport) as cp_client,
        ):
            if catalog is None:
                runtime.catalog = TitleCatalog(
                    client,
                    config.origin_url,
                    ttl=config.catalog_ttl_seconds,
                    negative_ttl=config.catalog_negative_ttl_seconds,
                    stale=config.catalog_stale_seconds,
                    max_entries=config.catalog_max_entries,
                    timeout=config.origin_timeout_seconds,
                )
            reporter = runtime.popularity = PopularityReporter(
                cp_client,
                config.control_plane_http,
                interval=config.popularity_interval_seconds,
                token=config.popularity_token,
                max_titles=config.popularity_max_titles,
                on_result=lambda result: metrics.popularity_reports.labels(result).inc(),
            )
            reporter.start()
            if watcher is not None:
                watcher.start()
                # Answering before the first snapshot would send everyone to the origin.
                if not await watcher.wait_for_view(config.startup_wait_seconds):
                    log.warning(
                        "no fleet state yet; serving origin-only answers until it arrives",
                        extra={"control_plane": config.control_plane},
                    )
            try:
                yield
            finally:
                if watcher is not None:
                    await watcher.stop()
                await reporter.stop()
                if isinstance(geo, MaxMindLocator):
                    geo.close()

    async def playback(request: Request) -> Response:
        started = time.perf_counter()
        site = site_reason = ""
        try:
            headers = request.headers
            gate.check(headers.get("authorization"), headers.get("cookie"))
            title = _parse_title(await _read_body(request, config.max_body_bytes))
            if runtime.catalog is None:
                raise CatalogUnavailable("steering is not started")
            ready = await runtime.catalog.require_ready(title)
            peer = request.client.host if request.client else None
            client_ip = trust.client_address(peer, headers.getlist("x-forwarded-for"))
            view = source.view
            decision = ranker.choose(view, client_ip, title)
            site, site_reason = decision.site, decision.site_reason
            if decision.miss is not None:
                metrics.misses.labels(decision.miss.site, decision.miss.kind).inc()
            if runtime.popularity is not None:
                runtime.popularity.count(site, title)
            expires_at = int(clock()) + config.tokens.ttl_seconds
            body = _answer(title, decision, tokens.sign(keyring, title, expires_at), expires_at,
                           requestid.current.get(), ready.dash)
            status = 200
            response = Response(body, media_type=_JSON, headers={"Cache-Control": "no-store"})
            if log.isEnabledFor(logging.DEBUG):
                log.debug(
                    "playback",
                    extra={
                        "title": title,
                        "client": str(client_ip),
                        "site": site,
                        "site_reason": site_reason,
                        "urls": len(decision.candidates),
                        "fleet_version": view.version,
                    },
                )
        except SteeringError as exc:
            status = _STATUS.get(type(exc), 500)
            response = json_error(status, str(exc))
            if status == 401:
                response.headers["WWW-Authenticate"] = 'Bearer realm="streamfleet"'
        metrics.playback_requests.labels(str(status), site, site_reason).inc()
        metrics.playback_seconds.observe(time.perf_counter() - started)
        return response

    async def healthz(request: Request) -> Response:
        age = source.age_seconds()
        view = source.view
        return JSONResponse(
            {
                "status": "ok",
                # Steering keeps answering (from its last fleet state, or origin-only) without it.
                "control_plane": "connected" if source.connected else "unreachable",
                "fleet_version": view.version,
                "fleet_state_age_s": None if age is None else round(age, 3),
                "appliances": len(view),
                "healthy_appliances": view.healthy_count,
                "coverage_zones": len(coverage.zones()) if coverage is not None else None,
                "coverage_error": (coverage.last_error or None) if coverage is not None else None,
                "popularity_pending_titles": runtime.popularity.pending_titles if runtime.popularity else 0,
            }
        )

    async def metrics_endpoint(request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    spec = orjson.dumps(openapi.document())

    async def openapi_endpoint(request: Request) -> Response:
        return Response(spec, media_type=_JSON)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return json_error(exc.status_code, str(exc.detail))

    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", extra={"path": request.url.path}, exc_info=exc)
        return json_error(500, "internal error")

    return Starlette(
        routes=[
            Route("/v1/playback", playback, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            Route("/openapi.json", openapi_endpoint, methods=["GET"]),
        ],
        exception_handlers={HTTPException: http_error, Exception: server_error},
        middleware=request_middleware(config.access_log, trusted_proxies=config.trusted_proxies),
        lifespan=lifespan,
    )


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body (the kernel's reader) with steering's errors: 413 past ``limit`` bytes."""
    try:
        return await read_body(request, limit)
    except BodyError as exc:
        if exc.status == 413:
            raise RequestTooLarge(str(exc)) from None
        raise RequestTimeout("the request body did not arrive") from None


def _parse_title(body: bytes) -> str:
    """The title id of a {"title": "<id>"} body. Raises InvalidRequest."""
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidRequest('body must be a JSON object like {"title": "<id>"}') from None
    if not isinstance(data, dict) or not isinstance(data.get("title"), str):
        raise InvalidRequest('body must be a JSON object with a string "title"')
    title: str = data["title"]
    try:
        addressing.master_key(title)
    except addressing.AddressError:
        raise InvalidRequest(f"invalid title id {title[:80]!r}") from None
    return title


def _answer(title: str, decision: Decision, token: str, expires_at: int, request_id: str | None,
            dash: bool) -> bytes:
    path = addressing.master_key(title).signed_path(token)
    # Null rather than a URL that would 404 for titles ingested before DASH manifests.
    dash_path = addressing.dash_key(title).signed_path(token) if dash else None
    return orjson.dumps(
        {
            "title": title,
            # The player sends it as X-Request-Id on every request of this playback.
            "request_id": request_id,
            "site": decision.site,
            "site_reason": decision.site_reason,
            "expires_at": expires_at,
            "urls": [
                {
                    "url": c.base_url + path,
                    "dash_url": c.base_url + dash_path if dash_path else None,
                    "kind": c.kind,
                    "appliance": c.appliance,
                    "site": c.site,
                    "reason": c.reason,
                }
                for c in decision.candidates
            ],
        }
    )

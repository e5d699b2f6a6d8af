"""The web server's HTTP adapter: pages, static files, same-origin API proxy, posters, operator API."""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from streamfleet.accesslog import request_middleware
from streamfleet.httpkit import json_error

from .catalog import TitleCatalog
from .config import WebConfig
from .errors import Forbidden, NotFound, PosterError, UpstreamUnavailable, WebError
from .identity import Identity, IdentityLookup
from .ops import FleetOverview
from .posters import PosterMaker
from .proxy import forward
from .relay import MediaRelay

log = logging.getLogger(__name__)

# What the browser may reach of each service (path after /api/<service>/).
ORIGIN_PATHS = re.compile(r"^v1/(titles(/[a-z0-9-]+(/plays)?)?|search|accounts|sessions|me"
                          r"|uploads(/[A-Za-z0-9_-]+)?)$")
STEERING_PATHS = re.compile(r"^v1/playback$")
CONTROL_PATHS = re.compile(r"^v1/(fleet|popularity|fill/[a-z-]+(/[A-Za-z0-9_.-]+)?)$")
PAGES = {
    "/": "index.html", "/login": "login.html", "/signup": "signup.html", "/search": "search.html",
    "/upload": "upload.html", "/ops": "ops.html",
}
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
NO_CACHE = {"cache-control": "no-cache"}
Handler = Callable[[Request], Awaitable[Response]]


@dataclass
class Services:
    """What the lifespan opens and the handlers use."""

    client: httpx.AsyncClient
    identity: IdentityLookup
    posters: PosterMaker
    overview: FleetOverview
    relay: MediaRelay
    catalog: TitleCatalog


class WebMetrics:
    """The web server's own counters, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.proxied = Counter("web_proxied_requests", "Requests proxied to a service, by service and status",
                               ["service", "status"], registry=self.registry)
        self.posters = Counter("web_posters", "Poster requests, by result (cached, made, failed)",
                               ["result"], registry=self.registry)


def _error_status(exc: WebError) -> int:
    if isinstance(exc, Forbidden):
        return 403 if exc.logged_in else 401
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, UpstreamUnavailable):
        return 504 if exc.timeout else 502
    return 502 if isinstance(exc, PosterError) else 500


def _same_origin(request: Request) -> bool:
    """False for a state-changing request sent by a page of another origin (CSRF defence in depth;
    the session cookie is SameSite=Lax already)."""
    if request.method not in UNSAFE or "origin" not in request.headers:
        return True
    return urlsplit(request.headers["origin"]).netloc == request.headers.get("host", "")


def build_app(config: WebConfig, *, transport: httpx.AsyncBaseTransport | None = None,
              clock: Callable[[], float] = time.time,
              monotonic: Callable[[], float] = time.monotonic) -> Starlette:
    """The web app. ``transport`` replaces the network to the services (tests); ``clock`` signs
    poster tokens; ``monotonic`` ages caches. Raises ValueError for unusable token keys."""
    keyring = config.tokens.keyring()
    metrics = WebMetrics()
    static = config.static_root
    timeout = httpx.Timeout(config.upstream_timeout_seconds)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        config.poster_dir.mkdir(parents=True, exist_ok=True)
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        async with httpx.AsyncClient(transport=transport, timeout=timeout, limits=limits) as client:
            overview = FleetOverview(client, control_plane_http=config.control_plane_http,
                                     steering_url=config.steering_url, origin_url=config.origin_url,
                                     operator_token=config.operator_token,
                                     admin_token=config.appliance_admin_token, clock=clock)
            yield {"services": Services(
                client,
                IdentityLookup(client, config.origin_url, config.identity_cache_seconds, monotonic),
                PosterMaker(client, config.origin_url, keyring, config.poster_dir, config.poster_width,
                            clock),
                overview,
                MediaRelay(client, config.origin_url, overview.fleet, config.relay_connect_timeout_seconds,
                           config.upstream_timeout_seconds, monotonic),
                TitleCatalog(client, config.origin_url),
            )}

    def services(request: Request) -> Services:
        found: Services = request.state.services
        return found

    async def require(request: Request, *roles: str) -> Identity:
        cookie = request.headers.get("cookie") if config.session_cookie in request.cookies else None
        return await services(request).identity.require(cookie, request.headers.get("authorization"), *roles)

    def guarded(handler: Handler) -> Handler:
        async def wrapped(request: Request) -> Response:
            if not _same_origin(request):
                return json_error(403, "cross-origin request refused")
            try:
                return await handler(request)
            except WebError as exc:
                return json_error(_error_status(exc), str(exc))
        return wrapped

    async def proxy(request: Request, service: str, base: str, allowed: re.Pattern[str],
                    **kwargs: Any) -> Response:
        path = str(request.path_params["path"])
        if not allowed.match(path):
            return json_error(404, f"no such {service} API: /{path[:100]}")
        response = await forward(services(request).client, request, base, path, mount=f"/api/{service}",
                                 name=service, **kwargs)
        metrics.proxied.labels(service, str(response.status_code)).inc()
        return response

    async def origin_api(request: Request) -> Response:
        return await proxy(request, "origin", config.origin_url, ORIGIN_PATHS)

    async def steering_api(request: Request) -> Response:
        return await proxy(request, "steering", config.steering_url, STEERING_PATHS)

    async def control_api(request: Request) -> Response:
        await require(request, "operator")
        # The browser's own credentials stay here; the control plane gets the operator token.
        return await proxy(request, "control", config.control_plane_http, CONTROL_PATHS,
                           drop=("cookie", "authorization"),
                           add={"authorization": f"Bearer {config.operator_token}"})

    async def poster(request: Request) -> Response:
        name = str(request.path_params["name"])
        if not name.endswith(".jpg"):
            return json_error(404, "posters are /api/posters/{title}.jpg")
        maker = services(request).posters
        title = name[:-4]
        cached = maker.cached(title)
        try:
            path = cached or await maker.poster(title)
        except WebError:
            metrics.posters.labels("failed").inc()
            raise
        metrics.posters.labels("cached" if cached else "made").inc()
        return FileResponse(path, media_type="image/jpeg", headers={"cache-control": "public, max-age=86400"})

    async def ops_overview(request: Request) -> Response:
        await require(request, "operator")
        body = await services(request).overview.overview()
        return JSONResponse(body, headers={"cache-control": "no-store"})

    async def ops_drain(request: Request) -> Response:
        who = await require(request, "operator")
        appliance = str(request.path_params["appliance"])
        undo = request.query_params.get("undo", "").lower() in ("1", "true", "yes")
        result = await services(request).overview.drain(appliance, undo)
        log.warning("drain requested", extra={"appliance": appliance, "undo": undo, "user": who.user_id})
        return JSONResponse(result)

    async def relay_origin(request: Request) -> Response:
        return await services(request).relay.relay(request, None, str(request.path_params["rest"]))

    async def relay_appliance(request: Request) -> Response:
        return await services(request).relay.relay(request, str(request.path_params["appliance"]),
                                                   str(request.path_params["rest"]))

    async def session(request: Request) -> Response:
        cookie = request.headers.get("cookie") if config.session_cookie in request.cookies else None
        who = await services(request).identity.identify(cookie, request.headers.get("authorization"))
        user = None if who is None else {"id": who.user_id, "username": who.username, "role": who.role}
        return JSONResponse({"user": user}, headers={"cache-control": "no-store"})

    async def search(request: Request) -> Response:
        body = await services(request).catalog.search(request.query_params.get("q", ""))
        return JSONResponse(body, headers={"cache-control": "no-store"})

    async def progress(request: Request) -> Response:
        body = await services(request).catalog.progress(str(request.path_params["title"]))
        return JSONResponse(body, headers={"cache-control": "no-store"})

    async def favicon(request: Request) -> Response:
        return FileResponse(static / "favicon.svg", media_type="image/svg+xml")

    async def web_config(request: Request) -> Response:
        return JSONResponse({"media_relay": config.media_relay,
                             "watch_requires_login": config.watch_requires_login}, headers=NO_CACHE)

    async def page(request: Request) -> Response:
        path = request.url.path
        if path.startswith("/titles/"):
            name = "title.html"
        elif path.startswith("/watch/"):
            name = "watch.html"
        else:
            name = PAGES[path]
        return FileResponse(static / name, headers=NO_CACHE)

    async def healthz(request: Request) -> Response:
        ok = (static / "index.html").is_file()
        return JSONResponse({"status": "ok" if ok else "static files missing", "service": "web"},
                            status_code=200 if ok else 503)

    async def metrics_endpoint(request: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return json_error(exc.status_code, str(exc.detail))

    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", extra={"path": request.url.path}, exc_info=exc)
        return json_error(500, "internal error")

    all_methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    routes = [
        *(Route(p, page, methods=["GET", "HEAD"]) for p in PAGES),
        Route("/titles/{title}", page, methods=["GET", "HEAD"]),
        Route("/watch/{title}", page, methods=["GET", "HEAD"]),
        Route("/favicon.ico", favicon, methods=["GET"]),
        Route("/api/config", web_config, methods=["GET"]),
        Route("/api/session", guarded(session), methods=["GET"]),
        Route("/api/search", guarded(search), methods=["GET"]),
        Route("/api/titles/{title}/progress", guarded(progress), methods=["GET"]),
        Route("/api/origin/{path:path}", guarded(origin_api), methods=all_methods),
        Route("/api/steering/{path:path}", guarded(steering_api), methods=["POST"]),
        Route("/api/control/{path:path}", guarded(control_api), methods=["GET", "PUT", "POST"]),
        Route("/api/posters/{name}", guarded(poster), methods=["GET", "HEAD"]),
        Route("/api/ops/overview", guarded(ops_overview), methods=["GET"]),
        Route("/api/ops/appliances/{appliance}/drain", guarded(ops_drain), methods=["POST"]),
        Route("/api/relay/origin/s/{rest:path}", relay_origin, methods=["GET", "HEAD"]),
        Route("/api/relay/appliance/{appliance}/s/{rest:path}", relay_appliance, methods=["GET", "HEAD"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=static), name="static"),
    ]
    # No minting: an id only means something when the services behind this server see it too,
    # and the relay forwards the browser's own X-Request-Id untouched.
    return Starlette(routes=routes, exception_handlers={HTTPException: http_error, Exception: server_error},
                     middleware=request_middleware(config.access_log, mint=False), lifespan=lifespan)

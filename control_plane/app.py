"""HTTP adapter for operators: /healthz, /metrics (Prometheus), GET /v1/fleet, plus mounted extras."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from streamfleet.accesslog import request_middleware
from streamfleet.httpkit import json_error

from .config import ControlPlaneConfig
from .feed import FleetFeed
from .model import ApplianceStatus, FleetState, Health
from .registry import FleetRegistry
from .stats import Stats

# Monotonic milliseconds; the same clock that stamps Stats.last_sweep_ms.
MonotonicMs = Callable[[], int]


def fleet_state_json(state: FleetState) -> dict[str, Any]:
    """The JSON form of a snapshot served by GET /v1/fleet."""
    return {
        "version": state.version,
        "generated_unix_ms": state.generated_unix_ms,
        "health_counts": {h.value: n for h, n in state.health_counts().items()},
        "appliances": [_status_json(a) for a in state.appliances],
    }


def _status_json(a: ApplianceStatus) -> dict[str, Any]:
    out = asdict(a)
    out["health"] = a.health.value
    out["state"] = a.state.value
    out["client_prefixes"] = list(a.client_prefixes)
    out["titles"] = list(a.titles)
    return out


class _FleetCollector:
    """Reads the registry at scrape time, so label sets never go stale."""

    def __init__(self, registry: FleetRegistry, feed: FleetFeed, stats: Stats) -> None:
        self._registry = registry
        self._feed = feed
        self._stats = stats

    def collect(self) -> Iterable[Metric]:
        state = self._registry.snapshot
        appliances = GaugeMetricFamily(
            "control_plane_appliances", "Registered appliances by site and health.", labels=["site", "health"]
        )
        counts = state.site_health_counts()
        # Every health per known site, zeros included, so "healthy == 0" alerts can fire.
        for site in sorted({a.site for a in state.appliances}):
            for health in Health:
                appliances.add_metric([site, health.value], counts.get((site, health), 0))
        yield appliances
        s = self._stats
        for name, text, value in (
            ("control_plane_registrations", "Register calls accepted.", s.registrations),
            ("control_plane_heartbeats", "Heartbeats accepted from known appliances.", s.heartbeats),
            ("control_plane_unknown_heartbeats", "Heartbeats answered with reregister=true.",
             s.unknown_heartbeats),
            ("control_plane_denied_requests", "Requests refused for a missing or wrong secret.", s.denied),
            ("control_plane_invalid_requests", "Requests refused as malformed.", s.invalid),
        ):
            yield CounterMetricFamily(name, text, value=value)
        yield GaugeMetricFamily("control_plane_watchers", "WatchFleet streams open.",
                                value=self._feed.watcher_count)
        yield GaugeMetricFamily("control_plane_fleet_version", "Version of the latest fleet snapshot.",
                                value=state.version)


def build_app(
    config: ControlPlaneConfig,
    registry: FleetRegistry,
    feed: FleetFeed,
    stats: Stats,
    monotonic_ms: MonotonicMs,
    *,
    extra_routes: Sequence[BaseRoute] = (),
    extra_collectors: Sequence[Collector] = (),
    replica_id: str = "",
    planning: Callable[[], bool] = lambda: True,
) -> Starlette:
    """The operator HTTP app. Reads shared state only; safe on the same loop as the gRPC server.

    ``extra_routes`` (the fill API) and ``extra_collectors`` (their metrics) are mounted as given;
    ``replica_id`` and ``planning`` (holds the planner lease) are reported by /healthz.
    """
    metrics = CollectorRegistry(auto_describe=True)
    metrics.register(_FleetCollector(registry, feed, stats))
    for collector in extra_collectors:
        metrics.register(collector)
    # A sweeper silent for this long means health decisions have stopped: report unhealthy.
    stall_ms = 5 * config.sweep_interval_ms + 1000

    async def healthz(request: Request) -> Response:
        state = registry.snapshot
        since_sweep = monotonic_ms() - stats.last_sweep_ms
        ok = stats.last_sweep_ms > 0 and since_sweep <= stall_ms
        body = {
            "status": "ok" if ok else "sweeper stalled",
            "fleet_version": state.version,
            "appliances": {h.value: n for h, n in state.health_counts().items()},
            "watchers": feed.watcher_count,
            "replica": replica_id,
            "planner": planning(),
        }
        return JSONResponse(body, status_code=200 if ok else 503)

    async def metrics_endpoint(request: Request) -> Response:
        return Response(generate_latest(metrics), media_type=CONTENT_TYPE_LATEST)

    async def fleet(request: Request) -> Response:
        return JSONResponse(fleet_state_json(registry.snapshot))

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            Route("/v1/fleet", fleet, methods=["GET"]),
            *extra_routes,
        ],
        exception_handlers={HTTPException: _http_error},
        middleware=request_middleware(config.access_log),
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 in the one JSON error shape of every streamfleet API."""
    if not isinstance(exc, HTTPException):
        raise exc
    response = json_error(exc.status_code, exc.detail)
    response.headers.update(exc.headers or {})
    return response

"""HTTP adapter for popularity reports and the operators' fill API (schedules, run-now, status, plan).

Operator endpoints need ``Authorization: Bearer <operator_token>``; popularity reports need
``reporter_token`` when one is configured (the operator token is accepted too). Domain errors
become JSON errors here and only here: InvalidRequest 400, Unauthorized 401, CatalogUnavailable 502;
bodies that are no JSON object are 400, larger than ``max_json_body_bytes`` 413.
"""

from __future__ import annotations

import hmac
import math
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from streamfleet.httpkit import BodyError, json_error, read_json_object

from . import validation
from .clock import Clock
from .config import ControlPlaneConfig
from .errors import CatalogUnavailable, ControlPlaneError, InvalidRequest, Unauthorized
from .fill import FillCoordinator
from .fill_status import fill_status, plan_report_json
from .forward import Leadership, to_leader
from .manifest import Manifest
from .registry import FleetRegistry
from .schedules import parse_rate, parse_schedule

Handler = Callable[[Request], Awaitable[Response]]


class _Tokens:
    def __init__(self, operator: str, reporter: str) -> None:
        self._operator = operator.encode()
        self._reporter = reporter.encode()

    def check_operator(self, request: Request) -> None:
        """Raises Unauthorized unless the request carries the operator token."""
        if not _matches(self._operator, _bearer(request)):
            raise Unauthorized("operator endpoints need Authorization: Bearer <operator_token>")

    def check_reporter(self, request: Request) -> None:
        """Reports need the reporter token when one is set; the operator token also passes."""
        presented = _bearer(request)
        allowed = _matches(self._reporter, presented) or _matches(self._operator, presented)
        if self._reporter and not allowed:
            raise Unauthorized("popularity reports need Authorization: Bearer <reporter_token>")


def fill_routes(config: ControlPlaneConfig, coordinator: FillCoordinator, registry: FleetRegistry,
                clock: Clock, *, leadership: Leadership | None = None) -> list[Route]:
    """The popularity and /v1/fill/* routes, to mount on the control plane's HTTP app.

    With ``leadership`` (replicas), what only the planning replica knows -- plan now, the last
    plan, top titles -- is forwarded to it when this replica does not plan.
    """
    tokens = _Tokens(config.operator_token, config.reporter_token)

    def elsewhere() -> Leadership | None:
        return leadership if leadership is not None and not coordinator.leading else None
    max_body = config.max_json_body_bytes

    async def report_popularity(request: Request) -> Response:
        tokens.check_reporter(request)
        body = await read_json_object(request, max_body)
        starts = body.get("starts")
        if not isinstance(starts, dict):
            raise InvalidRequest('starts: expected an object {"<title>": <count>, ...}')
        site = str(body.get("site", ""))
        recorded = coordinator.record_starts(site, starts)
        return JSONResponse({"site": site, "recorded": recorded})

    async def top_titles(request: Request) -> Response:
        tokens.check_operator(request)
        if (planner := elsewhere()) is not None:
            return await to_leader(request, planner)
        site = validation.site(request.query_params.get("site", ""))
        limit = _int_param(request, "limit", 20, 1, 10_000)
        scores = coordinator.popularity.scores(site)
        top = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
        return JSONResponse({"site": site, "titles": [{"title": t, "score": round(s, 3)} for t, s in top]})

    async def put_schedule(request: Request) -> Response:
        tokens.check_operator(request)
        site = validation.site(request.path_params["site"])
        schedule = parse_schedule(site, await read_json_object(request, max_body), coordinator.schedule(site))
        return JSONResponse(coordinator.set_schedule(schedule).to_json())

    async def list_schedules(request: Request) -> Response:
        tokens.check_operator(request)
        return JSONResponse({"schedules": [s.to_json() for s in coordinator.schedules()]})

    async def run_now(request: Request) -> Response:
        tokens.check_operator(request)
        site = validation.site(request.path_params["site"])
        body = await read_json_object(request, max_body, empty_ok=True)
        hours = body.get("hours", config.run_now_hours)
        if isinstance(hours, bool) or not isinstance(hours, int | float) or not 0 < hours <= 24 * 7 \
                or not math.isfinite(hours):
            raise InvalidRequest("hours: expected a number of hours within (0, 168]")
        rate = parse_rate(body["rate"]) if "rate" in body else None
        return JSONResponse(coordinator.run_now(site, float(hours), rate).to_json())

    async def status(request: Request) -> Response:
        tokens.check_operator(request)
        site = request.query_params.get("site")
        if site is not None:
            site = validation.site(site)
        state = registry.snapshot
        progress = {a.appliance_id: registry.record(a.appliance_id).fill for a in state.appliances}
        return JSONResponse(fill_status(coordinator, state, progress, clock.wall_ms() / 1000, site))

    async def run_plan(request: Request) -> Response:
        tokens.check_operator(request)
        if (planner := elsewhere()) is not None:
            return await to_leader(request, planner)
        return JSONResponse(plan_report_json(await coordinator.plan("operator")))

    async def last_plan(request: Request) -> Response:
        tokens.check_operator(request)
        if (planner := elsewhere()) is not None:
            return await to_leader(request, planner)
        return JSONResponse(plan_report_json(coordinator.report))

    async def manifest(request: Request) -> Response:
        tokens.check_operator(request)
        ident = validation.appliance_id(request.path_params["appliance_id"])
        found = coordinator.manifest(ident)
        if found is None:
            return json_error(404, f"no manifest was planned for appliance {ident!r}")
        return JSONResponse(_manifest_json(ident, *found))

    routes = [
        ("/v1/popularity", report_popularity, "POST"),
        ("/v1/popularity", top_titles, "GET"),
        ("/v1/fill/schedules/{site}", put_schedule, "PUT"),
        ("/v1/fill/schedules", list_schedules, "GET"),
        ("/v1/fill/run-now/{site}", run_now, "POST"),
        ("/v1/fill/status", status, "GET"),
        ("/v1/fill/plan", run_plan, "POST"),
        ("/v1/fill/plan", last_plan, "GET"),
        ("/v1/fill/manifests/{appliance_id}", manifest, "GET"),
    ]
    return [Route(path, _errors_as_json(handler), methods=[method]) for path, handler, method in routes]


class FillCollector:
    """Fill metrics for /metrics, read from the coordinator at scrape time."""

    def __init__(self, coordinator: FillCoordinator) -> None:
        self._coordinator = coordinator

    def collect(self) -> Iterable[Metric]:
        c = self._coordinator
        report = c.report
        yield GaugeMetricFamily("control_plane_fill_plan_version", "Manifest version of the last plan.",
                                value=report.version)
        yield GaugeMetricFamily("control_plane_fill_plan_duration_seconds", "Duration of the last plan.",
                                value=report.duration_ms / 1000)
        yield GaugeMetricFamily("control_plane_fill_plan_timestamp_seconds", "Unix time of the last plan.",
                                value=report.planned_unix_ms / 1000)
        per_site = {
            "bytes_planned": "Bytes the last plan places on the site's appliances.",
            "bytes_added": "Bytes the last plan adds to the site's appliances.",
            "bytes_deleted": "Bytes the last plan removes from the site's appliances.",
            "titles_unplaced": "Titles that fit on no appliance of the site (served by the origin).",
        }
        for key, text in per_site.items():
            family = GaugeMetricFamily(f"control_plane_fill_{key}", text, labels=["site"])
            for site, totals in sorted(report.sites.items()):
                family.add_metric([site], totals.get(key, 0))
            yield family
        yield CounterMetricFamily("control_plane_popularity_starts", "Playback starts reported.",
                                  value=c.popularity.recorded_starts)
        yield GaugeMetricFamily("control_plane_fill_planner", "1 while this replica holds the planner lease.",
                                value=int(c.leading))


def _errors_as_json(handler: Handler) -> Handler:
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except Unauthorized as exc:
            response = json_error(401, str(exc))
            response.headers["WWW-Authenticate"] = 'Bearer realm="streamfleet-control-plane"'
            return response
        except InvalidRequest as exc:
            return json_error(400, str(exc))
        except BodyError as exc:
            return json_error(exc.status, str(exc))
        except CatalogUnavailable as exc:
            return json_error(502, f"origin catalog unavailable: {exc}")
        except ControlPlaneError as exc:
            return json_error(409, str(exc))

    return wrapped


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise InvalidRequest(f"{name}: expected an integer") from None
    if not low <= value <= high:
        raise InvalidRequest(f"{name}: expected {low}..{high}")
    return value


def _bearer(request: Request) -> bytes:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip().encode() if scheme.lower() == "bearer" else b""


def _matches(expected: bytes, presented: bytes) -> bool:
    return bool(expected) and hmac.compare_digest(expected, presented)


def _manifest_json(ident: str, site: str, m: Manifest) -> dict[str, Any]:
    w = m.window
    return {
        "appliance_id": ident, "site": site, "version": m.version, "origin_url": m.origin_url,
        "window": {"start": w.start, "end": w.end, "tz": w.tz, "rate_bits_per_second": w.rate_bits_per_second,
                   "run_now_until": w.run_now_until},
        "entries": [{"title": e.title, "priority": e.priority, "bytes": e.bytes} for e in m.entries],
    }

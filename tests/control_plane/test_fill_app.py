"""The fill and popularity HTTP API in-process: auth, validation errors, round trips, status."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import httpx
import pytest

from control_plane.app import build_app
from control_plane.catalog import CatalogTitle
from control_plane.config import ControlPlaneConfig
from control_plane.feed import FleetFeed
from control_plane.fill_app import FillCollector, fill_routes
from control_plane.model import FillProgress, HeartbeatReport
from control_plane.stats import Stats

from .fakes import FakeClock
from .test_fill import FlakyCatalog, Rig

TOKEN = "op-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
GB = 10**9


class Api:
    """Synchronous calls into the app through httpx's in-process ASGI transport."""

    def __init__(self, reporter_token: str = "") -> None:
        self.rig = Rig(clock=FakeClock(wall_ms=1_767_225_600_000))  # 2026-01-01 00:00 UTC
        self.config = replace(ControlPlaneConfig(), operator_token=TOKEN, reporter_token=reporter_token)
        registry = self.rig.registry
        feed = FleetFeed(registry.snapshot)
        self.app = build_app(self.config, registry, feed, Stats(), self.rig.clock.monotonic_ms,
                             extra_routes=fill_routes(self.config, self.rig.fill, registry, self.rig.clock),
                             extra_collectors=[FillCollector(self.rig.fill)])

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
             content: bytes | None = None) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://cp") as client:
                return await client.request(method, path, json=body, content=content,
                                            headers=AUTH if headers is None else headers)

        return asyncio.run(go())


@pytest.fixture
def api() -> Api:
    return Api()


OPERATOR_CALLS = [
    ("PUT", "/v1/fill/schedules/ams"),
    ("GET", "/v1/fill/schedules"),
    ("POST", "/v1/fill/run-now/ams"),
    ("GET", "/v1/fill/status"),
    ("POST", "/v1/fill/plan"),
    ("GET", "/v1/fill/plan"),
    ("GET", "/v1/fill/manifests/a1"),
    ("GET", "/v1/popularity?site=ams"),
]


@pytest.mark.parametrize(("method", "path"), OPERATOR_CALLS)
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}])
def test_operator_endpoints_need_the_token(api: Api, method: str, path: str, headers: dict[str, str]) -> None:
    reply = api.call(method, path, {"window": "02:00-06:00", "tz": "UTC", "rate": "1Gbps"}, headers=headers)
    assert reply.status_code == 401
    assert reply.json()["error"]["status"] == 401
    assert "Bearer" in reply.headers["www-authenticate"]
    assert "wrong" not in reply.text
    assert api.rig.fill.schedules() == []


def test_popularity_reports_and_the_reporter_token() -> None:
    open_api = Api()
    reply = open_api.call("POST", "/v1/popularity", {"site": "ams", "starts": {"film-a": 3, "film-b": 1}},
                          headers={})
    assert reply.status_code == 200 and reply.json() == {"site": "ams", "recorded": 4}
    top = open_api.call("GET", "/v1/popularity?site=ams&limit=1").json()
    assert top == {"site": "ams", "titles": [{"title": "film-a", "score": 3.0}]}
    guarded = Api(reporter_token="steering-secret")
    body = {"site": "ams", "starts": {"film-a": 1}}
    assert guarded.call("POST", "/v1/popularity", body, headers={}).status_code == 401
    ok = {"Authorization": "Bearer steering-secret"}
    assert guarded.call("POST", "/v1/popularity", body, headers=ok).status_code == 200
    assert guarded.call("POST", "/v1/popularity", body).status_code == 200  # operator token too
    assert guarded.rig.fill.popularity.score("ams", "film-a") == 2


@pytest.mark.parametrize(("body", "content", "field"), [
    ({"site": "", "starts": {"a": 1}}, None, "site"),
    ({"site": "ams", "starts": [1, 2]}, None, "starts"),
    ({"site": "ams", "starts": {"a": -2}}, None, "starts.a"),
    (None, b"{not json", "body"),
    ([1, 2], None, "body"),
])
def test_bad_popularity_reports_are_400(api: Api, body: Any, content: bytes | None, field: str) -> None:
    reply = api.call("POST", "/v1/popularity", body, content=content)
    assert reply.status_code == 400
    assert reply.json()["error"]["message"].startswith(field)


def test_schedule_round_trip(api: Api) -> None:
    reply = api.call("PUT", "/v1/fill/schedules/ams", {"window": "02:00-06:00", "tz": "Europe/Paris",
                                                       "rate": "500Mbps"})
    assert reply.status_code == 200
    expected = {"site": "ams", "window": "02:00-06:00", "tz": "Europe/Paris",
                "rate_bits_per_second": 500_000_000, "run_now_until": 0}
    assert reply.json() == expected
    assert api.call("GET", "/v1/fill/schedules").json() == {"schedules": [expected]}
    now_s = api.rig.clock.wall_ms() // 1000
    ran = api.call("POST", "/v1/fill/run-now/ams", {"hours": 2}).json()
    assert ran["run_now_until"] == now_s + 7200 and ran["window"] == "02:00-06:00"
    ran = api.call("POST", "/v1/fill/run-now/fra").json()  # no body: run_now_hours, no rate limit
    assert ran["run_now_until"] == now_s + 6 * 3600 and ran["rate_bits_per_second"] == 0
    assert api.call("POST", "/v1/fill/run-now/fra", {"rate": "1Gbps"}).json()["rate_bits_per_second"] == 10**9


@pytest.mark.parametrize(("path", "body", "message"), [
    ("/v1/fill/schedules/ams", {"window": "2-6", "tz": "UTC", "rate": "1Gbps"}, "window"),
    ("/v1/fill/schedules/ams", {"window": "02:00-06:00", "tz": "Moon/Base", "rate": "1Gbps"}, "tz"),
    ("/v1/fill/schedules/ams", {"window": "02:00-06:00", "tz": "UTC", "rate": "fast"}, "rate"),
    ("/v1/fill/schedules/ams", {"window": "02:00-06:00", "tz": "UTC"}, "rate is missing"),
    ("/v1/fill/schedules/AMS!", {"window": "02:00-06:00", "tz": "UTC", "rate": "1Gbps"}, "site"),
    ("/v1/fill/run-now/ams", {"hours": 0}, "hours"),
    ("/v1/fill/run-now/ams", {"hours": "soon"}, "hours"),
    ("/v1/fill/run-now/ams", {"rate": "warp"}, "rate"),
])
def test_bad_schedules_are_400_naming_the_field(api: Api, path: str, body: dict[str, Any],
                                                message: str) -> None:
    method = "PUT" if "schedules" in path else "POST"
    reply = api.call(method, path, body)
    assert reply.status_code == 400
    assert reply.json()["error"]["message"].startswith(message)
    assert api.rig.fill.schedules() == []


def test_plan_status_and_manifest(api: Api) -> None:
    rig = api.rig
    rig.register("a1", capacity=30 * GB)
    rig.register("a2", capacity=30 * GB)
    api.call("PUT", "/v1/fill/schedules/ams", {"window": "02:00-06:00", "tz": "UTC", "rate": "8Mbps"})
    plan = api.call("POST", "/v1/fill/plan").json()
    assert plan["version"] == 1 and plan["reason"] == "operator" and plan["titles"] == 30
    assert set(plan["appliances"]) == {"a1", "a2"}
    a1 = plan["appliances"]["a1"]
    assert a1["bytes_added"] == a1["bytes_planned"] > 0 and a1["bytes_deleted"] == 0
    assert plan["sites"]["ams"]["titles_placed"] + plan["sites"]["ams"]["titles_unplaced"] == 30
    assert api.call("GET", "/v1/fill/plan").json() == plan
    manifest = api.call("GET", "/v1/fill/manifests/a1").json()
    assert manifest["version"] == 1 and manifest["window"]["rate_bits_per_second"] == 8_000_000
    assert sum(e["bytes"] for e in manifest["entries"]) == a1["bytes_planned"]
    assert api.call("GET", "/v1/fill/manifests/zz").status_code == 404
    # a1 reports progress on its manifest; a2 has not picked its manifest up yet.
    total = a1["bytes_planned"]
    rig.registry.heartbeat(HeartbeatReport("a1", fill=FillProgress(1, total - 3_600_000_000, total)))
    held = api.call("GET", "/v1/fill/manifests/a2").json()["entries"][0]  # filled on a miss
    rig.registry.heartbeat(HeartbeatReport("a2", titles=(held["title"],), fill=FillProgress(0, 0, 0)))
    status = api.call("GET", "/v1/fill/status?site=ams").json()
    assert status["plan_version"] == 1
    assert status["sites"] == [{"site": "ams", "window": "02:00-06:00", "tz": "UTC",
                                "rate_bits_per_second": 8_000_000, "run_now_until": 0,
                                "filling_allowed_now": False}]
    s1, s2 = status["appliances"]
    assert (s1["bytes_done"], s1["bytes_total"], s1["current"]) == (total - 3_600_000_000, total, True)
    # 3.6 GB at 1 MB/s is 1 hour of window: 02:00-03:00 UTC on 1 January.
    assert s1["eta_seconds"] == 3 * 3600 and s1["bytes_remaining"] == 3_600_000_000
    assert s2["current"] is False
    assert s2["bytes_remaining"] == plan["appliances"]["a2"]["bytes_planned"] - held["bytes"]
    assert api.call("GET", "/v1/fill/status?site=fra").json()["appliances"] == []
    assert api.call("GET", "/v1/fill/status?site=!").status_code == 400
    metrics = api.call("GET", "/metrics", headers={}).text
    assert "control_plane_fill_plan_version 1.0" in metrics
    assert 'control_plane_fill_bytes_planned{site="ams"}' in metrics


def test_plan_without_any_catalog_is_502(api: Api) -> None:
    catalog = api.rig.catalog
    assert isinstance(catalog, FlakyCatalog)
    catalog.down = True
    reply = api.call("POST", "/v1/fill/plan")
    assert reply.status_code == 502
    assert "origin is down" in reply.json()["error"]["message"]
    catalog.down = False
    catalog.set([CatalogTitle("only-one", 1)])
    assert api.call("POST", "/v1/fill/plan").json()["titles"] == 1

"""The operator HTTP app in-process: /healthz, /metrics, GET /v1/fleet, JSON errors."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette

from control_plane.app import build_app
from control_plane.config import ControlPlaneConfig
from control_plane.feed import FleetFeed
from control_plane.health import HealthPolicy
from control_plane.model import HeartbeatReport, Registration
from control_plane.registry import FleetRegistry
from control_plane.stats import Stats
from control_plane.store import MemoryRegistryStore

from .fakes import FakeClock


class Client:
    """Synchronous calls into the ASGI app through httpx's in-process transport."""

    def __init__(self, app: Starlette) -> None:
        self._app = app

    def request(self, method: str, path: str) -> httpx.Response:
        async def call() -> httpx.Response:
            transport = httpx.ASGITransport(app=self._app)
            async with httpx.AsyncClient(transport=transport, base_url="http://cp") as client:
                return await client.request(method, path)

        return asyncio.run(call())

    def get(self, path: str) -> httpx.Response:
        return self.request("GET", path)

    def post(self, path: str) -> httpx.Response:
        return self.request("POST", path)


@pytest.fixture
def parts() -> Iterator[tuple[Client, FleetRegistry, Stats, FakeClock]]:
    clock = FakeClock()
    registry = FleetRegistry(MemoryRegistryStore(), HealthPolicy(3000, 0.05), clock)
    feed = FleetFeed(registry.snapshot)
    registry.add_listener(feed.publish)
    stats = Stats()
    app = build_app(ControlPlaneConfig(), registry, feed, stats, clock.monotonic_ms)
    yield Client(app), registry, stats, clock


def test_healthz_reports_a_stalled_sweeper(parts: tuple[Client, FleetRegistry, Stats, FakeClock]) -> None:
    client, registry, stats, clock = parts
    assert client.get("/healthz").status_code == 503  # no sweep yet
    stats.last_sweep_ms = clock.monotonic_ms()
    registry.register(Registration("a1", "ams", "http://127.0.0.1:8081", 0, ()))
    reply = client.get("/healthz")
    assert reply.status_code == 200
    assert reply.json() == {"status": "ok", "fleet_version": registry.snapshot.version,
                            "appliances": {"healthy": 1, "degraded": 0, "down": 0, "draining": 0},
                            "watchers": 0, "replica": "", "planner": True}
    clock.advance(60_000)
    assert client.get("/healthz").status_code == 503


def test_fleet_json_and_metrics(parts: tuple[Client, FleetRegistry, Stats, FakeClock]) -> None:
    client, registry, stats, _ = parts
    registry.register(Registration("a1", "ams", "http://127.0.0.1:8081", 5, ("10.0.0.0/8",)))
    registry.heartbeat(HeartbeatReport("a1", titles=("t1",)))
    stats.heartbeats = 3
    fleet = client.get("/v1/fleet").json()
    assert fleet["version"] == registry.snapshot.version
    assert fleet["appliances"] == [{
        "appliance_id": "a1", "site": "ams", "http_url": "http://127.0.0.1:8081", "capacity_bytes": 5,
        "client_prefixes": ["10.0.0.0/8"], "location": None, "health": "healthy", "state": "active",
        "disk_used_bytes": 0, "egress_bytes_per_second": 0, "connections": 0, "titles": ["t1"],
        "last_heartbeat_unix_ms": registry.record("a1").last_heartbeat_unix_ms,
    }]
    text = client.get("/metrics").text
    assert 'control_plane_appliances{health="healthy",site="ams"} 1.0' in text
    assert 'control_plane_appliances{health="down",site="ams"} 0.0' in text
    assert "control_plane_heartbeats_total 3.0" in text
    assert f"control_plane_fleet_version {float(registry.snapshot.version)}" in text


def test_errors_are_json(parts: tuple[Client, FleetRegistry, Stats, FakeClock]) -> None:
    client = parts[0]
    reply = client.post("/v1/fleet")
    assert reply.status_code == 405
    assert reply.json()["error"]["status"] == 405
    assert "GET" in reply.headers["allow"]
    assert client.get("/v2/nothing").json() == {"error": {"status": 404, "message": "Not Found"}}

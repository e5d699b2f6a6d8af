from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable
from typing import Any

import pytest

from steering.fleet import Health, Location
from steering.watcher import FleetWatcher, view_from_state
from streamfleet.v1 import fleet_pb2

from .standins import StandInFleet, start_grpc

pytestmark = pytest.mark.anyio


def state(version: int, *appliances: fleet_pb2.ApplianceStatus) -> fleet_pb2.FleetState:
    return fleet_pb2.FleetState(version=version, appliances=appliances, generated_unix_ms=1000 * version)


def status(
    ident: str, site: str, health: fleet_pb2.Health = fleet_pb2.HEALTH_HEALTHY, **kw: Any
) -> fleet_pb2.ApplianceStatus:
    return fleet_pb2.ApplianceStatus(
        appliance_id=ident, site=site, http_url=f"http://127.0.0.1:1/{ident}", health=health, **kw
    )


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def test_view_from_state_converts_every_field() -> None:
    msg = state(
        3,
        status(
            "e1",
            "east",
            capacity_bytes=5,
            client_prefixes=["10.0.0.0/8", "bogus"],
            titles=["film"],
            location=fleet_pb2.Location(latitude=1.5, longitude=2.5),
        ),
        status("e2", "east", fleet_pb2.HEALTH_DEGRADED),
        status("e3", "east", fleet_pb2.HEALTH_DOWN),
        status("e4", "east", fleet_pb2.HEALTH_DRAINING),
        status("e5", "east", fleet_pb2.HEALTH_UNSPECIFIED),
    )
    view = view_from_state(msg)
    assert (view.version, view.generated_unix_ms, len(view)) == (3, 3000, 5)
    e1 = view.appliance("e1")
    assert (e1.site, e1.url, e1.capacity_bytes, e1.titles) == (
        "east",
        "http://127.0.0.1:1/e1",
        5,
        frozenset({"film"}),
    )
    assert e1.location == Location(1.5, 2.5)
    assert view.appliance("e2").location is None
    assert [view.appliance(f"e{i}").health for i in range(1, 6)] == [
        Health.HEALTHY,
        Health.DEGRADED,
        Health.DOWN,
        Health.DRAINING,
        Health.UNSPECIFIED,
    ]
    assert view.rejected_prefixes == ("e1:bogus",)
    assert view.site_for(ipaddress.ip_address("10.9.9.9")) == "east"


async def test_watcher_follows_updates_and_survives_the_control_plane_going_away() -> None:
    servicer = StandInFleet(state(1, status("e1", "east", client_prefixes=["10.0.0.0/8"])))
    server, port = await start_grpc(servicer)
    watcher = FleetWatcher(f"127.0.0.1:{port}", name="test-steering", backoff_initial=0.05, backoff_max=0.2)
    watcher.start()
    try:
        assert await watcher.wait_for_view(5.0)
        assert watcher.view.version == 1 and watcher.connected
        assert servicer.watchers == ["test-steering"]

        servicer.publish(state(2, status("e1", "east", fleet_pb2.HEALTH_DOWN), status("e2", "east")))
        await eventually(lambda: watcher.view.version == 2)
        assert watcher.view.appliance("e1").health is Health.DOWN
        placement = watcher.view.placement("east")
        assert placement is not None and [m.id for m in placement.members] == ["e2"]

        await server.stop(None)
        await eventually(lambda: not watcher.connected)
        # The last fleet state stays in use while the control plane is away.
        await asyncio.sleep(0.3)
        assert watcher.view.version == 2
        age = watcher.age_seconds()
        assert age is not None and age >= 0.3

        servicer.current = state(5, status("e3", "west"))
        server, _ = await start_grpc(servicer, port)
        await eventually(lambda: watcher.view.version == 5 and watcher.connected)
        assert watcher.failures >= 1
        age = watcher.age_seconds()
        assert age is not None and age < 0.3
    finally:
        await watcher.stop()
        await server.stop(None)
    assert not watcher.connected


async def test_watcher_without_control_plane_keeps_the_empty_view() -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        watcher = FleetWatcher(
            f"127.0.0.1:{blocker.getsockname()[1]}", backoff_initial=0.01, backoff_max=0.05
        )
        watcher.start()
        try:
            assert not await watcher.wait_for_view(0.3)
            assert watcher.failures >= 1
            assert watcher.view.version == 0 and len(watcher.view) == 0
            assert watcher.age_seconds() is None and not watcher.connected
        finally:
            await watcher.stop()
            await watcher.stop()

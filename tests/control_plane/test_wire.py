"""Protobuf <-> domain conversion, including validation and location presence."""

from __future__ import annotations

from dataclasses import replace

import pytest

from control_plane import wire
from control_plane.errors import InvalidRequest
from control_plane.model import (
    ApplianceState,
    ApplianceStatus,
    FleetState,
    Health,
    Location,
)
from streamfleet.v1 import fleet_pb2


def test_registration_from_proto() -> None:
    req = fleet_pb2.RegisterRequest(
        appliance_id="a1", site="ams", http_url="http://127.0.0.1:8081/", capacity_bytes=7,
        client_prefixes=["10.0.0.0/8", "10.0.0.0/8"], location=fleet_pb2.Location(latitude=0, longitude=0),
    )
    reg = wire.registration_from_proto(req)
    assert reg.http_url == "http://127.0.0.1:8081"
    assert reg.client_prefixes == ("10.0.0.0/8",)
    assert reg.location == Location(0.0, 0.0)  # present, even at (0, 0)
    req.ClearField("location")
    assert wire.registration_from_proto(req).location is None


def test_heartbeat_from_proto() -> None:
    req = fleet_pb2.HeartbeatRequest(appliance_id="a1", healthy=True, titles=["b", "a"], error_ratio=0.2,
                                     state=fleet_pb2.APPLIANCE_STATE_DRAINED, fill_version=4)
    report = wire.heartbeat_from_proto(req)
    assert (report.state, report.titles, report.load.error_ratio) == (ApplianceState.DRAINED, ("a", "b"), 0.2)
    assert report.fill.fill_version == 4
    # An appliance that sends no state is active.
    bare = fleet_pb2.HeartbeatRequest(appliance_id="a1")
    assert wire.heartbeat_from_proto(bare).state is ApplianceState.ACTIVE
    req.state = 42  # type: ignore[assignment]
    with pytest.raises(InvalidRequest, match="state"):
        wire.heartbeat_from_proto(req)


def test_fleet_state_to_proto() -> None:
    status = ApplianceStatus(
        appliance_id="a1", site="ams", http_url="http://x", capacity_bytes=1, client_prefixes=("10.0.0.0/8",),
        location=None, health=Health.DRAINING, state=ApplianceState.DRAINING, disk_used_bytes=2,
        egress_bytes_per_second=3, connections=4, titles=("t",), last_heartbeat_unix_ms=5,
    )
    located = replace(status, appliance_id="a2", location=Location(1.5, -2.5))
    msg = wire.fleet_state_to_proto(FleetState(9, (status, located), 10))
    assert (msg.version, msg.generated_unix_ms) == (9, 10)
    first, second = msg.appliances
    assert first.health == fleet_pb2.HEALTH_DRAINING
    assert not first.HasField("location")
    assert (second.location.latitude, second.location.longitude) == (1.5, -2.5)
    assert list(first.titles) == ["t"] and first.connections == 4

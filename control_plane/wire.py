"""Conversions between protobuf messages and the domain dataclasses (validating on the way in)."""

from __future__ import annotations

from streamfleet.v1 import fleet_pb2

from . import validation
from .errors import InvalidRequest
from .manifest import Manifest
from .model import (
    ApplianceState,
    FillProgress,
    FleetState,
    Health,
    HeartbeatReport,
    LoadReport,
    Registration,
)

_HEALTH_TO_PROTO = {
    Health.HEALTHY: fleet_pb2.HEALTH_HEALTHY,
    Health.DEGRADED: fleet_pb2.HEALTH_DEGRADED,
    Health.DOWN: fleet_pb2.HEALTH_DOWN,
    Health.DRAINING: fleet_pb2.HEALTH_DRAINING,
}
_STATE_FROM_PROTO = {
    # Unspecified (an appliance that does not send a state) counts as active.
    fleet_pb2.APPLIANCE_STATE_UNSPECIFIED: ApplianceState.ACTIVE,
    fleet_pb2.APPLIANCE_STATE_ACTIVE: ApplianceState.ACTIVE,
    fleet_pb2.APPLIANCE_STATE_DRAINING: ApplianceState.DRAINING,
    fleet_pb2.APPLIANCE_STATE_DRAINED: ApplianceState.DRAINED,
}


def registration_from_proto(req: fleet_pb2.RegisterRequest) -> Registration:
    """Validate and convert. Raises InvalidRequest naming the bad field."""
    location = None
    if req.HasField("location"):
        location = validation.location(req.location.latitude, req.location.longitude)
    return Registration(
        appliance_id=validation.appliance_id(req.appliance_id),
        site=validation.site(req.site),
        http_url=validation.http_url(req.http_url),
        capacity_bytes=validation.byte_count("capacity_bytes", req.capacity_bytes),
        client_prefixes=validation.client_prefixes(req.client_prefixes),
        location=location,
    )


def heartbeat_from_proto(req: fleet_pb2.HeartbeatRequest) -> HeartbeatReport:
    """Validate and convert. Raises InvalidRequest naming the bad field."""
    state = _STATE_FROM_PROTO.get(req.state)
    if state is None:
        raise InvalidRequest(f"state {int(req.state)} is not a known appliance state")
    count = validation.byte_count
    return HeartbeatReport(
        appliance_id=validation.appliance_id(req.appliance_id),
        state=state,
        healthy=req.healthy,
        load=LoadReport(
            disk_used_bytes=count("disk_used_bytes", req.disk_used_bytes),
            disk_capacity_bytes=count("disk_capacity_bytes", req.disk_capacity_bytes),
            egress_bytes_per_second=count("egress_bytes_per_second", req.egress_bytes_per_second),
            connections=req.connections,
            error_ratio=validation.error_ratio(req.error_ratio),
            hits=count("hits", req.hits),
            misses=count("misses", req.misses),
        ),
        titles=validation.titles(req.titles),
        fill=FillProgress(
            fill_version=count("fill_version", req.fill_version),
            bytes_done=count("fill_bytes_done", req.fill_bytes_done),
            bytes_total=count("fill_bytes_total", req.fill_bytes_total),
        ),
    )


def fleet_state_to_proto(state: FleetState) -> fleet_pb2.FleetState:
    appliances = []
    for a in state.appliances:
        status = fleet_pb2.ApplianceStatus(
            appliance_id=a.appliance_id,
            site=a.site,
            http_url=a.http_url,
            capacity_bytes=a.capacity_bytes,
            client_prefixes=a.client_prefixes,
            health=_HEALTH_TO_PROTO[a.health],
            disk_used_bytes=a.disk_used_bytes,
            egress_bytes_per_second=a.egress_bytes_per_second,
            connections=a.connections,
            titles=a.titles,
            last_heartbeat_unix_ms=a.last_heartbeat_unix_ms,
        )
        if a.location is not None:
            # Presence matters: (0, 0) is a place, an absent location means "unknown".
            status.location.CopyFrom(
                fleet_pb2.Location(latitude=a.location.latitude, longitude=a.location.longitude)
            )
        appliances.append(status)
    return fleet_pb2.FleetState(
        version=state.version, appliances=appliances, generated_unix_ms=state.generated_unix_ms
    )


def manifest_to_proto(manifest: Manifest) -> fleet_pb2.FillManifest:
    w = manifest.window
    return fleet_pb2.FillManifest(
        version=manifest.version,
        entries=[fleet_pb2.FillEntry(title=e.title, priority=e.priority, bytes=e.bytes)
                 for e in manifest.entries],
        window=fleet_pb2.FillWindow(start=w.start, end=w.end, tz=w.tz,
                                    rate_bits_per_second=w.rate_bits_per_second,
                                    run_now_until=w.run_now_until),
        origin_url=manifest.origin_url,
    )

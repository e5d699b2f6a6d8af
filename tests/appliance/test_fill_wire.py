"""The fill wired into a real appliance server: GetFillManifest over gRPC (fake control plane),
heartbeats carrying progress, every file then a HIT, and the fill metrics on /metrics."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from appliance.fill_client import manifest_from_proto
from streamfleet.addressing import parse_key
from streamfleet.v1 import fleet_pb2

from .support import (
    ServerThread,
    StandInOrigin,
    appliance_config,
    free_port,
    make_title,
    running_appliance,
    url_of,
)
from .test_agent import FakeControlPlane, control_plane, wait_for


class FillControlPlane(FakeControlPlane):
    """Adds GetFillManifest (version 7: title "film" at 50 Mbit/s, no window)."""

    def __init__(self) -> None:
        super().__init__()
        self.manifest_requests: list[Any] = []
        self.served = threading.Event()

    def Heartbeat(self, request: Any, context: Any) -> Any:  # noqa: N802 - the RPC's name
        super().Heartbeat(request, context)
        return fleet_pb2.HeartbeatResponse(fill_version=7)

    def GetFillManifest(self, request: Any, context: Any) -> Any:  # noqa: N802 - the RPC's name
        with self.lock:
            self.manifest_requests.append(request)
        if request.known_version == 7:
            return fleet_pb2.FillManifest(version=7)
        self.served.set()
        return fleet_pb2.FillManifest(
            version=7,
            entries=[fleet_pb2.FillEntry(title="film", priority=0, bytes=1)],
            window=fleet_pb2.FillWindow(rate_bits_per_second=50_000_000),
            origin_url="http://127.0.0.1:1",
        )


def test_an_appliance_fills_its_manifest_and_reports_progress_in_heartbeats(tmp_path: Path) -> None:
    origin = StandInOrigin(titles={"film": make_title("film", segments=4)})
    total = sum(len(v) for v in origin.titles["film"].values())
    fake, port = FillControlPlane(), free_port()
    with ServerThread(origin.app()) as origin_server, control_plane(fake, port) as target:
        config = replace(appliance_config(tmp_path / "a", origin_server.url), control_plane=target)
        with running_appliance(config) as url:
            wait_for(lambda: any(h.fill_version == 7 and h.fill_bytes_done == total for h in fake.heartbeats))
            beat = fake.heartbeats[-1]
            assert (beat.fill_bytes_done, beat.fill_bytes_total) == (total, total)
            assert "film" in beat.titles
            first = fake.manifest_requests[0]
            assert (first.appliance_id, first.secret, first.known_version) == (config.id, config.secret, 0)
            assert all(r.known_version == 7 for r in fake.manifest_requests[1:])
            caches = {httpx.get(url_of(url, parse_key(k))).headers["x-cache"] for k in origin.titles["film"]}
            metrics = httpx.get(url + "/metrics").text
    assert caches == {"HIT"}, "a filled title is served from disk on its very first play"
    assert f"streamfleet_appliance_fill_bytes_total {float(total)}" in metrics
    assert f"streamfleet_appliance_fill_pinned_bytes {float(total)}" in metrics
    assert 'streamfleet_appliance_fill_chunks_total{result="origin"} 7.0' in metrics
    assert "streamfleet_appliance_fill_manifest_version 7.0" in metrics
    assert (tmp_path / "a" / "fill_state.json").exists()


def test_a_malformed_manifest_is_refused_not_applied() -> None:
    good = fleet_pb2.FillManifest(version=3, entries=[fleet_pb2.FillEntry(title="film", priority=0, bytes=9)],
                                  window=fleet_pb2.FillWindow(start="22:00", end="02:00", tz="Europe/Paris"))
    manifest = manifest_from_proto(good)
    assert manifest.titles == {"film"} and manifest.window.tz == "Europe/Paris" and manifest.version == 3
    for bad in (fleet_pb2.FillManifest(version=4, window=fleet_pb2.FillWindow(start="25:00", end="02:00")),
                fleet_pb2.FillManifest(version=4, entries=[fleet_pb2.FillEntry(title="../../v1/admin")])):
        with pytest.raises(ValueError):
            manifest_from_proto(bad)

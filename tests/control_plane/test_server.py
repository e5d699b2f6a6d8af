"""The control plane as a real process: gRPC Fleet + health services and the operator HTTP API."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from streamfleet.v1 import fleet_pb2

from .harness import (
    DOWN_AFTER_MS,
    SECRET,
    ControlPlaneProcess,
    Heartbeater,
    Watch,
    channel,
    fleet_stub,
    health_of,
    heartbeat_request,
    metric,
    register_request,
    wait_for,
)

pytestmark = pytest.mark.e2e

HEALTHY = fleet_pb2.HEALTH_HEALTHY
DOWN = fleet_pb2.HEALTH_DOWN


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlaneProcess]:
    workdir = tmp_path_factory.mktemp("control-plane")
    proc = ControlPlaneProcess(workdir, workdir / "registry.sqlite3",
                               appliance_secrets={"special": "special-secret"})
    proc.start()
    yield proc
    assert proc.stop() == 0, proc.log()


@pytest.fixture
def stub(server: ControlPlaneProcess) -> Iterator[Any]:
    with channel(server.target) as ch:
        yield fleet_stub(ch)


def test_grpc_health_check_is_serving(server: ControlPlaneProcess) -> None:
    with channel(server.target) as ch:
        health = health_pb2_grpc.HealthStub(ch)
        for service in ("", "streamfleet.v1.Fleet"):
            reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_register_and_watch_sees_the_appliance_healthy(stub: Any) -> None:
    watch = Watch(stub, "steering-test")
    try:
        _, first = watch.next()
        reply = stub.Register(register_request("reg-1", site="ams", client_prefixes=["10.1.0.0/16"],
                                               location=fleet_pb2.Location(latitude=0, longitude=0)))
        assert (reply.heartbeat_interval_ms, reply.down_after_ms) == (200, DOWN_AFTER_MS)
        with Heartbeater(stub, "reg-1", titles=["title-a"]):
            _, state = watch.until(lambda s: health_of(s, "reg-1") == HEALTHY)
            assert state.version > first.version
            (status,) = [a for a in state.appliances if a.appliance_id == "reg-1"]
            assert status.site == "ams"
            assert status.http_url == "http://127.0.0.1:8081"
            assert list(status.client_prefixes) == ["10.1.0.0/16"]
            assert status.HasField("location")
            _, state = watch.until(lambda s: any(
                a.appliance_id == "reg-1" and list(a.titles) == ["title-a"] for a in s.appliances))
    finally:
        watch.cancel()


def test_silent_appliance_is_pushed_down_in_time(stub: Any) -> None:
    stub.Register(register_request("down-1"))
    watch = Watch(stub)
    try:
        with Heartbeater(stub, "down-1") as beats:
            watch.until(lambda s: health_of(s, "down-1") == HEALTHY)
            time.sleep(0.5)  # several heartbeats: still healthy
        silent_since = beats.last_ack
        arrived, state = watch.until(lambda s: health_of(s, "down-1") == DOWN, timeout=5)
        delay_ms = (arrived - silent_since) * 1000
        assert DOWN_AFTER_MS - 100 <= delay_ms <= DOWN_AFTER_MS + 500, delay_ms
        # A heartbeat brings it straight back.
        stub.Heartbeat(heartbeat_request("down-1"), timeout=2)
        watch.until(lambda s: health_of(s, "down-1") == HEALTHY, timeout=1)
    finally:
        watch.cancel()


def test_several_watchers_see_the_same_versions(stub: Any) -> None:
    watches = [Watch(stub, f"w{i}") for i in range(3)]
    try:
        firsts = [w.next()[1].version for w in watches]
        stub.Register(register_request("multi-1", site="fra"))
        target = max(firsts) + 1
        for w in watches:
            _, state = w.until(lambda s: s.version >= target and health_of(s, "multi-1") is not None)
        stub.Heartbeat(heartbeat_request("multi-1", state=fleet_pb2.APPLIANCE_STATE_DRAINING), timeout=2)
        versions = {w.until(lambda s: health_of(s, "multi-1") == fleet_pb2.HEALTH_DRAINING)[1].version
                    for w in watches}
        assert len(versions) == 1
    finally:
        for w in watches:
            w.cancel()


def test_watcher_that_goes_away_is_cleaned_up(server: ControlPlaneProcess, stub: Any) -> None:
    assert wait_for(lambda: metric(server.http, "control_plane_watchers") == 0)
    watches = [Watch(stub, "leaver"), Watch(stub, "leaver")]
    for w in watches:
        w.next()
    assert wait_for(lambda: metric(server.http, "control_plane_watchers") == 2)
    watches[0].cancel()
    assert wait_for(lambda: metric(server.http, "control_plane_watchers") == 1)
    watches[1].cancel()
    assert wait_for(lambda: metric(server.http, "control_plane_watchers") == 0)


@pytest.mark.parametrize(
    ("appliance_id", "secret"),
    [("wrong-1", "not-the-secret"), ("wrong-2", ""), ("special", SECRET)],
)
def test_wrong_secret_is_refused(stub: Any, appliance_id: str, secret: str) -> None:
    for call, request in (
        (stub.Register, register_request(appliance_id, secret=secret)),
        (stub.Heartbeat, heartbeat_request(appliance_id, secret=secret)),
        (stub.GetFillManifest, fleet_pb2.FillManifestRequest(appliance_id=appliance_id, secret=secret)),
    ):
        with pytest.raises(grpc.RpcError) as info:
            call(request, timeout=2)
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert SECRET not in info.value.details()


def test_per_appliance_secret_is_accepted(stub: Any) -> None:
    stub.Register(register_request("special", secret="special-secret"), timeout=2)
    reply = stub.Heartbeat(heartbeat_request("special", secret="special-secret"), timeout=2)
    assert reply.reregister is False


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"appliance_id": ""}, "appliance_id"),
        ({"site": ""}, "site"),
        ({"site": "Bad Site"}, "site"),
        ({"client_prefixes": ["10.0.0.0/8", "300.0.0.0/8"]}, "300.0.0.0/8"),
        ({"client_prefixes": ["10.0.0.1/8"]}, "host bits"),
        ({"http_url": "not a url"}, "http_url"),
    ],
)
def test_malformed_register_is_invalid_argument(stub: Any, fields: dict[str, Any], needle: str) -> None:
    args: dict[str, Any] = {"appliance_id": "malformed-1", **fields}
    with pytest.raises(grpc.RpcError) as info:
        stub.Register(register_request(**args), timeout=2)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert needle in info.value.details()


def test_heartbeat_from_unknown_appliance_asks_to_reregister(stub: Any) -> None:
    reply = stub.Heartbeat(heartbeat_request("never-registered"), timeout=2)
    assert reply.reregister is True
    stub.Register(register_request("never-registered"), timeout=2)
    assert stub.Heartbeat(heartbeat_request("never-registered"), timeout=2).reregister is False


def test_fill_manifest_is_empty_for_now(stub: Any) -> None:
    reply = stub.GetFillManifest(
        fleet_pb2.FillManifestRequest(appliance_id="reg-1", secret=SECRET, known_version=0), timeout=2)
    assert reply.version == 0
    assert list(reply.entries) == []
    assert reply.window == fleet_pb2.FillWindow()


def test_operator_http_endpoints(server: ControlPlaneProcess, stub: Any) -> None:
    stub.Register(register_request("http-1", site="lis"), timeout=2)
    with Heartbeater(stub, "http-1", titles=["title-h"]):
        assert wait_for(lambda: any(
            a["appliance_id"] == "http-1" and a["titles"] == ["title-h"]
            for a in httpx.get(server.http + "/v1/fleet", timeout=2).json()["appliances"]))
        fleet = httpx.get(server.http + "/v1/fleet", timeout=2).json()
        (entry,) = [a for a in fleet["appliances"] if a["appliance_id"] == "http-1"]
        assert entry["site"] == "lis" and entry["health"] == "healthy"
        healthz = httpx.get(server.http + "/healthz", timeout=2)
        assert healthz.status_code == 200
        body = healthz.json()
        assert body["status"] == "ok" and body["appliances"]["healthy"] >= 1
        assert body["fleet_version"] >= fleet["version"]
        text = httpx.get(server.http + "/metrics", timeout=2).text
        assert 'control_plane_appliances{health="healthy",site="lis"} 1.0' in text
        assert metric(server.http, "control_plane_heartbeats_total") >= 1
        assert metric(server.http, "control_plane_fleet_version") >= fleet["version"]
    missing = httpx.get(server.http + "/nope", timeout=2)
    assert missing.status_code == 404
    assert missing.json()["error"]["status"] == 404


def test_restart_recovers_the_registry(tmp_path: Path) -> None:
    db = tmp_path / "registry.sqlite3"
    first = ControlPlaneProcess(tmp_path, db)
    first.start()
    try:
        with channel(first.target) as ch:
            stub = fleet_stub(ch)
            stub.Register(register_request("keep-1", site="ams", client_prefixes=["192.0.2.0/24"]))
            with Heartbeater(stub, "keep-1", titles=["kept-title"]):
                watch = Watch(stub)
                _, before = watch.until(lambda s: any(
                    a.appliance_id == "keep-1" and list(a.titles) == ["kept-title"] for a in s.appliances))
                watch.cancel()
    finally:
        assert first.stop() == 0, first.log()

    second = ControlPlaneProcess(tmp_path, db)
    second.start()
    try:
        with channel(second.target) as ch:
            stub = fleet_stub(ch)
            watch = Watch(stub)
            try:
                _, recovered = watch.next()
                assert recovered.version > before.version
                (status,) = recovered.appliances
                assert (status.appliance_id, status.site, status.health) == ("keep-1", "ams", DOWN)
                assert list(status.client_prefixes) == ["192.0.2.0/24"]
                assert list(status.titles) == ["kept-title"]
                reply = stub.Heartbeat(heartbeat_request("keep-1", titles=["kept-title"]), timeout=2)
                assert reply.reregister is False
                watch.until(lambda s: health_of(s, "keep-1") == HEALTHY, timeout=1)
            finally:
                watch.cancel()
    finally:
        assert second.stop() == 0, second.log()


def test_sigterm_exits_zero_promptly(tmp_path: Path) -> None:
    proc = ControlPlaneProcess(tmp_path, tmp_path / "registry.sqlite3", shutdown_grace_ms=1000)
    proc.start()
    try:
        with channel(proc.target) as ch:
            watch = Watch(fleet_stub(ch))
            watch.next()
            health_stream = health_pb2_grpc.HealthStub(ch).Watch(health_pb2.HealthCheckRequest(service=""))
            assert next(health_stream).status == health_pb2.HealthCheckResponse.SERVING
            started = time.monotonic()
            proc.signal(signal.SIGTERM)
            # Watchers are told the stream ended (OK), health turns NOT_SERVING, the process exits 0.
            assert watch.wait_end(3), "WatchFleet stream did not end cleanly"
            assert next(health_stream).status == health_pb2.HealthCheckResponse.NOT_SERVING
            assert proc.wait(5) == 0, proc.log()
            assert time.monotonic() - started < 3.0
            health_stream.cancel()
    finally:
        proc.stop()
    assert "control plane stopped" in proc.log()

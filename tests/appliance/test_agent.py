"""FleetAgent against a fake control plane: register, heartbeat, re-register, quiet retries."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from appliance.agent import FleetAgent, LoadReport
from appliance.config import ApplianceConfig
from streamfleet.v1 import fleet_pb2, fleet_pb2_grpc

from .support import (
    FastServerThread,
    ServerThread,
    StandInOrigin,
    appliance_config,
    free_port,
    running_appliance,
    segment,
    url_of,
)


class FakeControlPlane(fleet_pb2_grpc.FleetServicer):  # type: ignore[misc]
    """Records every call; ``reregister_next`` makes the next heartbeat ask for a Register."""

    def __init__(self) -> None:
        self.registers: list[Any] = []
        self.heartbeats: list[Any] = []
        self.reregister_next = False
        self.deny = False
        self.lock = threading.Lock()
        self.closing = threading.Event()

    def Register(self, request: Any, context: Any) -> Any:  # noqa: N802 - the RPC's name
        if self.deny:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "wrong secret")
        with self.lock:
            self.registers.append(request)
        return fleet_pb2.RegisterResponse(heartbeat_interval_ms=50, down_after_ms=150)

    def WatchFleet(self, request: Any, context: Any) -> Iterator[Any]:  # noqa: N802 - the RPC's name
        """One snapshot: this appliance's site with a peer (and one in another site), then idle."""
        yield fleet_pb2.FleetState(
            version=1,
            appliances=[
                fleet_pb2.ApplianceStatus(
                    appliance_id="peer-1", site="test", http_url="http://127.0.0.1:1/",
                    capacity_bytes=100, health=fleet_pb2.HEALTH_HEALTHY,
                ),
                fleet_pb2.ApplianceStatus(
                    appliance_id="far-1", site="elsewhere", http_url="http://127.0.0.1:2",
                    capacity_bytes=100, health=fleet_pb2.HEALTH_HEALTHY,
                ),
            ],
        )
        while context.is_active() and not self.closing.is_set():
            time.sleep(0.05)

    def Heartbeat(self, request: Any, context: Any) -> Any:  # noqa: N802 - the RPC's name
        with self.lock:
            self.heartbeats.append(request)
            again, self.reregister_next = self.reregister_next, False
        return fleet_pb2.HeartbeatResponse(reregister=again)


@contextmanager
def control_plane(fake: FakeControlPlane, port: int) -> Iterator[str]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    fleet_pb2_grpc.add_FleetServicer_to_server(fake, server)
    assert server.add_insecure_port(f"127.0.0.1:{port}") == port
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        fake.closing.set()
        server.stop(0).wait()
        fake.closing.clear()


async def report() -> LoadReport:
    return LoadReport(True, 123, 1000, 2, 5, 1, 0, 4096, ["clip"])


def wait_for(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


async def await_for(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def config_for(target: str, tmp_path: Path) -> ApplianceConfig:
    return ApplianceConfig(
        id="a-1",
        site="east",
        data_dir=tmp_path,
        capacity_bytes=1000,
        client_prefixes=("10.0.0.0/8",),
        latitude=52.5,
        longitude=13.4,
        control_plane=target,
        public_url="http://cache.example:8081",
    )


def test_registers_heartbeats_and_reregisters_after_request_and_restart(tmp_path: Path) -> None:
    fake = FakeControlPlane()
    port = free_port()

    async def main() -> None:
        agent = FleetAgent(config_for(f"127.0.0.1:{port}", tmp_path), report, max_backoff_s=0.2)
        with control_plane(fake, port):
            agent.start()
            await await_for(lambda: len(fake.heartbeats) >= 3)
            assert agent.registered and agent.interval_s == 0.05
            fake.reregister_next = True
            await await_for(lambda: len(fake.registers) == 2)
        # The control plane is gone: heartbeats fail, the agent keeps trying.
        await await_for(lambda: not agent.registered)
        await asyncio.sleep(0.2)
        with control_plane(fake, port):  # back, and it has forgotten us: the agent registers again
            await await_for(lambda: len(fake.registers) == 3)
        started = time.monotonic()
        await agent.stop()
        assert time.monotonic() - started < 1.0

    asyncio.run(main())
    first = fake.registers[0]
    assert (first.appliance_id, first.site, first.http_url) == ("a-1", "east", "http://cache.example:8081")
    assert first.capacity_bytes == 1000 and list(first.client_prefixes) == ["10.0.0.0/8"]
    assert (first.location.latitude, first.location.longitude) == (52.5, 13.4)
    assert first.secret == "streamfleet-dev-fleet-secret"
    beat = fake.heartbeats[0]
    assert beat.state == fleet_pb2.APPLIANCE_STATE_ACTIVE and beat.healthy
    assert (beat.disk_used_bytes, beat.disk_capacity_bytes, beat.connections) == (123, 1000, 2)
    assert (beat.hits, beat.misses, list(beat.titles)) == (5, 1, ["clip"])


def test_unreachable_control_plane_is_retried_quietly_and_stop_is_prompt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> FleetAgent:
        agent = FleetAgent(config_for(f"127.0.0.1:{free_port()}", tmp_path), report, max_backoff_s=0.1)
        agent.start()
        await asyncio.sleep(0.6)
        started = time.monotonic()
        await agent.stop()
        assert time.monotonic() - started < 0.5
        return agent

    with caplog.at_level(logging.INFO, logger="appliance.agent"):
        agent = asyncio.run(main())
    assert agent.registrations == 0 and not agent.registered
    warnings = [r for r in caplog.records if r.name == "appliance.agent" and r.levelno >= logging.WARNING]
    assert len(warnings) == 1, "retries after the first failure must be quiet"


def test_wrong_secret_is_logged_as_an_error_every_time(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeControlPlane()
    fake.deny = True
    port = free_port()

    async def main() -> None:
        agent = FleetAgent(config_for(f"127.0.0.1:{port}", tmp_path), report, max_backoff_s=0.05)
        with control_plane(fake, port):
            agent.start()
            await asyncio.sleep(0.4)
            await agent.stop()
        assert agent.registrations == 0

    with caplog.at_level(logging.INFO, logger="appliance.agent"):
        asyncio.run(main())
    errors = [r for r in caplog.records if r.name == "appliance.agent" and r.levelno == logging.ERROR]
    assert len(errors) >= 2


def test_running_appliance_reports_what_it_holds(tmp_path: Path) -> None:
    fake = FakeControlPlane()
    port = free_port()
    origin = StandInOrigin()
    with ServerThread(origin.app()) as origin_server, control_plane(fake, port) as target:
        config = appliance_config(tmp_path, origin_server.url, control_plane=target)
        with running_appliance(config) as appliance:
            wait_for(lambda: len(fake.registers) == 1)
            assert httpx.get(url_of(appliance, segment(0))).status_code == 200
            wait_for(lambda: any(list(b.titles) == ["clip"] and b.misses == 1 for b in fake.heartbeats))
        count = len(fake.heartbeats)
        time.sleep(0.2)
        assert len(fake.heartbeats) == count, "the agent must stop with the appliance"
    beat = fake.heartbeats[-1]
    assert beat.appliance_id == "test-appliance" and beat.disk_used_bytes > 0
    assert fake.registers[0].http_url == config.http_url


def test_follows_fleet_state_for_site_peers_and_reports_draining(tmp_path: Path) -> None:
    fake = FakeControlPlane()
    port = free_port()
    origin = StandInOrigin()
    with ServerThread(origin.app()) as origin_server, control_plane(fake, port) as target:
        config = appliance_config(tmp_path, origin_server.url, control_plane=target)
        with FastServerThread(config) as server:
            appliance = server.server.appliance
            wait_for(lambda: appliance.peers.updates >= 1)
            assert appliance.peers.member_ids == ["peer-1", "test-appliance"]
            headers = {"authorization": f"Bearer {config.admin_token}"}
            assert httpx.post(server.url + "/admin/drain", headers=headers).json()["draining"] is True
            wait_for(lambda: any(b.state == fleet_pb2.APPLIANCE_STATE_DRAINING for b in fake.heartbeats))
            assert httpx.post(server.url + "/admin/drain?undo=1", headers=headers).json()["draining"] is False
            count = len(fake.heartbeats)
            wait_for(lambda: len(fake.heartbeats) > count + 1)
            assert fake.heartbeats[-1].state == fleet_pb2.APPLIANCE_STATE_ACTIVE

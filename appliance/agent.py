"""FleetAgent: registers this appliance with the control plane and keeps heartbeating.

The appliance serves whether or not the control plane is reachable: the agent retries quietly
with capped, jittered backoff, and re-registers when a heartbeat says the control plane does not
know it (it restarted) or after heartbeats failed (it may have restarted meanwhile).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from streamfleet.placement import capacity_weight
from streamfleet.v1 import fleet_pb2, fleet_pb2_grpc

from .config import ApplianceConfig
from .peers import SiteMember

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadReport:
    """The appliance's state at one instant, as the heartbeat reports it."""

    healthy: bool
    disk_used_bytes: int
    disk_capacity_bytes: int
    connections: int
    hits: int
    misses: int
    errors: int
    bytes_sent: int
    titles: Sequence[str]
    # Operator asked this appliance to drain: still serving, reported as DRAINING.
    draining: bool = False
    # Fill manifest version being applied, and bytes of its titles on disk / in total.
    fill_version: int = 0
    fill_bytes_done: int = 0
    fill_bytes_total: int = 0


ReportFn = Callable[[], Awaitable[LoadReport]]
# Receives every appliance of the fleet state (the callee keeps its own site's).
FleetFn = Callable[[list[SiteMember]], None]


def _ignore_fleet(members: list[SiteMember]) -> None:
    return None


def _ignore_version(version: int) -> None:
    return None


def site_members(state: Any) -> list[SiteMember]:
    """A FleetState message as plain SiteMembers (weight = capacity; down = not ``up``)."""
    return [
        SiteMember(
            id=a.appliance_id,
            site=a.site,
            url=a.http_url.rstrip("/"),
            weight=capacity_weight(a.capacity_bytes),
            up=a.health != fleet_pb2.HEALTH_DOWN,
            titles=frozenset(a.titles),
        )
        for a in state.appliances
    ]


class FleetAgent:
    """Runs Register/Heartbeat against ``config.control_plane`` until :meth:`stop`.

    ``start``/``stop`` must be called on the event loop that should run the agent; not safe
    across threads.
    """

    def __init__(
        self,
        config: ApplianceConfig,
        report: ReportFn,
        rpc_timeout_s: float = 3.0,
        max_backoff_s: float = 10.0,
        rand: Callable[[], float] = random.random,
        monotonic: Callable[[], float] = time.monotonic,
        on_fleet: FleetFn = _ignore_fleet,
        on_fill_version: Callable[[int], None] = _ignore_version,
    ) -> None:
        self._config = config
        self._report = report
        self._on_fleet = on_fleet
        # Told the latest fill-manifest version from every heartbeat reply.
        self._on_fill_version = on_fill_version
        self._rpc_timeout_s = rpc_timeout_s
        self._max_backoff_s = max_backoff_s
        self._rand = rand
        self._monotonic = monotonic
        self._interval_s = config.heartbeat_interval_ms / 1000
        self._task: asyncio.Task[None] | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self._registered = False
        self._last: tuple[float, LoadReport] | None = None
        # Successful Register and Heartbeat calls (for tests and logs).
        self.registrations = 0
        self.heartbeats = 0
        # Fleet-state snapshots received from WatchFleet.
        self.fleet_updates = 0

    @property
    def registered(self) -> bool:
        return self._registered

    @property
    def interval_s(self) -> float:
        """The heartbeat interval in use (the control plane's, once registered)."""
        return self._interval_s

    def start(self) -> None:
        """Start the agent's task; returns at once (the first Register happens in the background)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="fleet-agent")

    async def stop(self) -> None:
        """Cancel the agent (any RPC in progress included) and close its channel."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        self._registered = False

    async def _run(self) -> None:
        channel = grpc.aio.insecure_channel(self._config.control_plane)
        stub = fleet_pb2_grpc.FleetStub(channel)
        watch = asyncio.get_running_loop().create_task(self._follow(stub), name="fleet-watch")
        try:
            await self._loop(stub)
        finally:
            watch.cancel()
            await asyncio.gather(watch, return_exceptions=True)
            await channel.close()

    async def _follow(self, stub: Any) -> None:
        """Follow WatchFleet for the site's peers; reconnect quietly with backoff."""
        failures = 0
        while True:
            try:
                call = stub.WatchFleet(fleet_pb2.WatchFleetRequest(watcher=f"appliance:{self._config.id}"))
                async for state in call:
                    failures = 0
                    self.fleet_updates += 1
                    self._on_fleet(site_members(state))
            except grpc.aio.AioRpcError as exc:
                failures += 1
                log.debug("fleet watch interrupted", extra={"code": str(exc.code()), "failures": failures})
            await asyncio.sleep(self._backoff_s(max(failures, 1)))

    async def _loop(self, stub: Any) -> None:
        failures = 0
        while True:
            if not self._registered:
                try:
                    await self._register(stub)
                except grpc.aio.AioRpcError as exc:
                    failures += 1
                    self._log_failure("register", exc, failures)
                    await asyncio.sleep(self._backoff_s(failures))
                    continue
                if failures:
                    log.info("control plane reachable again", extra={"failed_attempts": failures})
                failures = 0
            try:
                reply = await stub.Heartbeat(await self._heartbeat(), timeout=self._rpc_timeout_s)
            except grpc.aio.AioRpcError as exc:
                failures += 1
                self._log_failure("heartbeat", exc, failures)
                # Register again once it answers: it may have restarted and forgotten us.
                self._registered = False
                await asyncio.sleep(self._backoff_s(failures))
                continue
            self.heartbeats += 1
            self._on_fill_version(int(reply.fill_version))
            if reply.reregister:
                log.info("control plane asked this appliance to register again")
                self._registered = False
                continue
            await asyncio.sleep(self._interval_s)

    async def _register(self, stub: Any) -> None:
        c = self._config
        request = fleet_pb2.RegisterRequest(
            appliance_id=c.id,
            site=c.site,
            http_url=c.http_url,
            capacity_bytes=c.capacity_bytes,
            client_prefixes=list(c.client_prefixes),
            location=fleet_pb2.Location(latitude=c.latitude, longitude=c.longitude),
            secret=c.secret,
        )
        reply = await stub.Register(request, timeout=self._rpc_timeout_s)
        interval_ms = int(reply.heartbeat_interval_ms) or c.heartbeat_interval_ms
        self._interval_s = interval_ms / 1000
        self._registered = True
        self.registrations += 1
        log.info(
            "registered with the control plane",
            extra={"control_plane": c.control_plane, "heartbeat_interval_ms": interval_ms},
        )

    async def _heartbeat(self) -> Any:
        now = self._monotonic()
        report = await self._report()
        egress, error_ratio = 0.0, 0.0
        if self._last is not None:
            then, before = self._last
            elapsed = max(now - then, 1e-3)
            egress = max(report.bytes_sent - before.bytes_sent, 0) / elapsed
            asked = (report.hits + report.misses + report.errors) - (
                before.hits + before.misses + before.errors
            )
            if asked > 0:
                error_ratio = max(report.errors - before.errors, 0) / asked
        self._last = (now, report)
        return fleet_pb2.HeartbeatRequest(
            appliance_id=self._config.id,
            secret=self._config.secret,
            state=fleet_pb2.APPLIANCE_STATE_DRAINING if report.draining else fleet_pb2.APPLIANCE_STATE_ACTIVE,
            healthy=report.healthy,
            disk_used_bytes=report.disk_used_bytes,
            disk_capacity_bytes=report.disk_capacity_bytes,
            egress_bytes_per_second=int(egress),
            connections=report.connections,
            error_ratio=error_ratio,
            titles=list(report.titles),
            hits=report.hits,
            misses=report.misses,
            fill_version=report.fill_version,
            fill_bytes_done=report.fill_bytes_done,
            fill_bytes_total=report.fill_bytes_total,
        )

    def _backoff_s(self, failures: int) -> float:
        """Capped exponential backoff with jitter (so a restarted control plane is not stampeded)."""
        base = min(self._max_backoff_s, 0.25 * 2.0 ** min(failures - 1, 16))
        return base * (0.5 + 0.5 * self._rand())

    def _log_failure(self, call: str, exc: Any, failures: int) -> None:
        code = exc.code()
        extra = {
            "call": call,
            "code": code.name if code is not None else "?",
            "control_plane": self._config.control_plane,
        }
        if code == grpc.StatusCode.PERMISSION_DENIED:
            # An operator must fix the secret: say so every time, not just once.
            log.error("control plane rejected this appliance's secret", extra=extra)
        elif failures == 1:
            log.warning("control plane unreachable; serving anyway and retrying", extra=extra)
        else:
            log.debug("control plane still unreachable", extra={**extra, "failures": failures})

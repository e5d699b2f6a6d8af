"""Follows the control plane's WatchFleet stream and keeps the latest FleetView, whatever happens."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable

import grpc

from streamfleet.v1 import fleet_pb2, fleet_pb2_grpc

from .fleet import Appliance, FleetView, Health, Location

log = logging.getLogger(__name__)

_HEALTH = {
    fleet_pb2.HEALTH_HEALTHY: Health.HEALTHY,
    fleet_pb2.HEALTH_DEGRADED: Health.DEGRADED,
    fleet_pb2.HEALTH_DOWN: Health.DOWN,
    fleet_pb2.HEALTH_DRAINING: Health.DRAINING,
}

# Keepalive pings find a control plane that vanished without closing the connection. gRPC servers
# refuse pings more often than every 5 minutes by default (too_many_pings), hence the long period.
_CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 300_000),
    ("grpc.keepalive_timeout_ms", 20_000),
]


def view_from_state(state: fleet_pb2.FleetState) -> FleetView:
    """Convert a FleetState message into the immutable domain view."""
    appliances = []
    for a in state.appliances:
        location = None
        if a.HasField("location") and (a.location.latitude or a.location.longitude):
            location = Location(a.location.latitude, a.location.longitude)
        appliances.append(
            Appliance(
                id=a.appliance_id,
                site=a.site,
                url=a.http_url,
                health=_HEALTH.get(a.health, Health.UNSPECIFIED),
                capacity_bytes=a.capacity_bytes,
                prefixes=tuple(a.client_prefixes),
                titles=frozenset(a.titles),
                location=location,
                connections=a.connections,
                egress_bytes_per_second=a.egress_bytes_per_second,
            )
        )
    return FleetView(state.version, appliances, state.generated_unix_ms)


class FleetWatcher:
    """A FleetSource fed by WatchFleet, reconnecting with jittered exponential backoff.

    When the control plane is unreachable it keeps answering the last view it had: playback must
    never fail because the control plane is away. Use from one event loop only.
    """

    def __init__(
        self,
        target: str,
        *,
        name: str = "steering",
        backoff_initial: float = 0.2,
        backoff_max: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._target = target
        self._name = name
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._clock = clock
        self._rand = rand
        self._view = FleetView.empty()
        self._updated_at: float | None = None
        self._connected = False
        self._first = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.updates = 0  # fleet states applied
        self.failures = 0  # streams that failed or ended

    @property
    def view(self) -> FleetView:
        return self._view

    @property
    def connected(self) -> bool:
        return self._connected

    def age_seconds(self) -> float | None:
        if self._updated_at is None:
            return None
        return self._clock() - self._updated_at

    def start(self) -> None:
        """Start following the stream in the background (needs a running event loop)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="fleet-watcher")

    async def stop(self) -> None:
        """Stop following and close the channel. Safe to call twice."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._connected = False

    async def wait_for_view(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the first fleet state; True when one has arrived."""
        try:
            await asyncio.wait_for(self._first.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def apply(self, state: fleet_pb2.FleetState) -> None:
        """Replace the view with one built from ``state`` (the stream calls this per message)."""
        view = view_from_state(state)
        if view.rejected_prefixes:
            log.warning("ignoring invalid client prefixes", extra={"prefixes": list(view.rejected_prefixes)})
        self._view = view
        self._updated_at = self._clock()
        self.updates += 1
        self._first.set()

    async def _run(self) -> None:
        delay = self._backoff_initial
        async with grpc.aio.insecure_channel(self._target, options=_CHANNEL_OPTIONS) as channel:
            stub = fleet_pb2_grpc.FleetStub(channel)
            while True:
                try:
                    call = stub.WatchFleet(fleet_pb2.WatchFleetRequest(watcher=self._name))
                    async for state in call:
                        if not self._connected:
                            log.info("fleet stream up", extra={"control_plane": self._target})
                        self._connected = True
                        self.apply(state)
                        delay = self._backoff_initial
                    log.warning("fleet stream ended", extra={"control_plane": self._target})
                except grpc.aio.AioRpcError as exc:
                    # Once per outage at warning level: retries every few seconds are not news.
                    log.log(
                        logging.WARNING if self._connected or self.failures == 0 else logging.DEBUG,
                        "fleet stream failed; keeping the last fleet state",
                        extra={
                            "control_plane": self._target,
                            "code": exc.code().name,
                            "version": self._view.version,
                        },
                    )
                except Exception:
                    # A bug must not stop steering from following the fleet; log it and retry.
                    log.exception("fleet stream error", extra={"control_plane": self._target})
                self._connected = False
                self.failures += 1
                # Jitter spreads reconnects of many steering copies after a control plane restart.
                await asyncio.sleep(delay * (0.5 + self._rand() / 2))
                delay = min(delay * 2, self._backoff_max)

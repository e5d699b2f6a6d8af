"""gRPC adapter: the grpc.aio servicer of streamfleet.v1.Fleet plus the grpc.health.v1 service.

Servicer methods are thin and named after the RPCs: check the id and secret, convert the message
(``wire.py``), call the registry / feed / manifest source, and map domain errors to status codes.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, NoReturn

import grpc
from grpc_health.v1 import health as grpc_health
from grpc_health.v1 import health_pb2, health_pb2_grpc

from streamfleet.v1 import fleet_pb2, fleet_pb2_grpc

from . import validation, wire
from .auth import SecretBook
from .errors import AccessDenied, ControlPlaneError, InvalidRequest
from .feed import FleetFeed
from .manifest import ManifestSource
from .model import FleetState
from .registry import FleetRegistry
from .stats import Stats

log = logging.getLogger(__name__)

FLEET_SERVICE = "streamfleet.v1.Fleet"
# Keepalive: our pings find watchers that vanished without closing their connection (so their
# subscription is dropped), and watchers may ping us every 10 s to find a vanished control plane
# (gRPC's default would answer such pings with GOAWAY too_many_pings).
SERVER_OPTIONS = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.max_pings_without_data", 0),
]
# grpc.aio.ServicerContext; untyped in grpcio.
Context = Any


class FleetService:
    """Implements every RPC of streamfleet.v1.Fleet. Use from the server's event loop."""

    def __init__(
        self,
        registry: FleetRegistry,
        feed: FleetFeed,
        secrets: SecretBook,
        manifests: ManifestSource,
        stats: Stats,
        *,
        heartbeat_interval_ms: int,
        down_after_ms: int,
    ) -> None:
        self._registry = registry
        self._feed = feed
        self._secrets = secrets
        self._manifests = manifests
        self._stats = stats
        self._heartbeat_interval_ms = heartbeat_interval_ms
        self._down_after_ms = down_after_ms
        # The last snapshot converted to protobuf: converted once per version, however many watch.
        self._proto_cache: tuple[int, fleet_pb2.FleetState] | None = None

    async def Register(  # noqa: N802 - the RPC's name
        self, request: fleet_pb2.RegisterRequest, context: Context
    ) -> fleet_pb2.RegisterResponse:
        try:
            self._authenticate(request.appliance_id, request.secret)
            registration = wire.registration_from_proto(request)
        except ControlPlaneError as exc:
            await self._abort(context, exc, "Register", request.appliance_id)
        self._registry.register(registration)
        self._stats.registrations += 1
        return fleet_pb2.RegisterResponse(
            heartbeat_interval_ms=self._heartbeat_interval_ms, down_after_ms=self._down_after_ms
        )

    async def Heartbeat(  # noqa: N802
        self, request: fleet_pb2.HeartbeatRequest, context: Context
    ) -> fleet_pb2.HeartbeatResponse:
        try:
            self._authenticate(request.appliance_id, request.secret)
            report = wire.heartbeat_from_proto(request)
        except ControlPlaneError as exc:
            await self._abort(context, exc, "Heartbeat", request.appliance_id)
        known = self._registry.heartbeat(report)
        if known:
            self._stats.heartbeats += 1
        else:
            self._stats.unknown_heartbeats += 1
            log.info("heartbeat from unknown appliance, asking it to re-register",
                     extra={"appliance": report.appliance_id, "peer": context.peer()})
        return fleet_pb2.HeartbeatResponse(
            reregister=not known, fill_version=self._manifests.version_for(report.appliance_id)
        )

    async def GetFillManifest(  # noqa: N802
        self, request: fleet_pb2.FillManifestRequest, context: Context
    ) -> fleet_pb2.FillManifest:
        try:
            ident = self._authenticate(request.appliance_id, request.secret)
        except ControlPlaneError as exc:
            await self._abort(context, exc, "GetFillManifest", request.appliance_id)
        return wire.manifest_to_proto(self._manifests.manifest_for(ident, request.known_version))

    async def WatchFleet(  # noqa: N802
        self, request: fleet_pb2.WatchFleetRequest, context: Context
    ) -> None:
        watcher = request.watcher[:100] or "anonymous"
        peer = context.peer()
        log.info("watcher connected", extra={"watcher": watcher, "peer": peer})
        try:
            # aclosing: a cancelled stream (watcher gone) removes its subscription at once.
            async with contextlib.aclosing(self._feed.subscribe()) as states:
                async for state in states:
                    await context.write(self._to_proto(state))
        finally:
            log.info("watcher disconnected", extra={"watcher": watcher, "peer": peer})

    def _authenticate(self, appliance_id: str, secret: str) -> str:
        ident = validation.appliance_id(appliance_id)
        self._secrets.check(ident, secret)
        return ident

    def _to_proto(self, state: FleetState) -> fleet_pb2.FleetState:
        cached = self._proto_cache
        if cached is None or cached[0] != state.version:
            cached = (state.version, wire.fleet_state_to_proto(state))
            self._proto_cache = cached
        return cached[1]

    async def _abort(self, context: Context, exc: ControlPlaneError, rpc: str, appliance_id: str) -> NoReturn:
        if isinstance(exc, AccessDenied):
            self._stats.denied += 1
            code = grpc.StatusCode.PERMISSION_DENIED
            log.warning("request refused: bad secret",
                        extra={"rpc": rpc, "appliance": appliance_id[:100], "peer": context.peer()})
        elif isinstance(exc, InvalidRequest):
            self._stats.invalid += 1
            code = grpc.StatusCode.INVALID_ARGUMENT
            log.info("request refused: invalid",
                     extra={"rpc": rpc, "appliance": appliance_id[:100], "reason": str(exc)})
        else:
            code = grpc.StatusCode.FAILED_PRECONDITION
        await context.abort(code, str(exc))
        raise AssertionError("context.abort returned")  # it always raises


class FleetGrpcServer:
    """The grpc.aio server carrying the Fleet servicer and the standard health service.

    Create inside the running event loop. ``port`` is the bound port.
    """

    def __init__(self, servicer: FleetService, host: str, port: int) -> None:
        self._server = grpc.aio.server(options=SERVER_OPTIONS)
        fleet_pb2_grpc.add_FleetServicer_to_server(servicer, self._server)
        self._health = grpc_health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        bracketed = f"[{host}]" if ":" in host and not host.startswith("[") else host
        self.port: int = self._server.add_insecure_port(f"{bracketed}:{port}")

    async def start(self) -> None:
        await self._server.start()
        for service in ("", FLEET_SERVICE):
            await self._health.set(service, health_pb2.HealthCheckResponse.SERVING)

    async def stop(self, grace_s: float) -> None:
        """Report NOT_SERVING, then let in-flight RPCs finish for up to ``grace_s`` seconds."""
        await self._health.enter_graceful_shutdown()
        await self._server.stop(grace_s)

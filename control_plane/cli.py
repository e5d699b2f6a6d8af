"""``streamfleet control-plane serve``: wires config, registry, fill planning, gRPC and HTTP into one loop."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import httpx
import uvicorn
from sqlalchemy.exc import SQLAlchemyError

from streamfleet.config import ConfigError
from streamfleet.httpkit import uvicorn_config
from streamfleet.logs import configure_logging

from .app import build_app
from .auth import SecretBook
from .clock import Clock, SystemClock
from .config import ControlPlaneConfig, load
from .db import Database, redacted
from .errors import DatabaseError
from .feed import FleetFeed
from .fill import FillCoordinator
from .fill_app import FillCollector, fill_routes
from .fill_store import SqlFillStore
from .health import HealthPolicy
from .lease import PLANNER, LeaderLease, SqlLeaseStore, keep_lease
from .origin_catalog import OriginCatalog
from .planning import PlanPolicy
from .popularity import PopularityBook, PopularityPolicy
from .registry import FleetRegistry, sweep_forever
from .service import FleetGrpcServer, FleetService
from .stats import Stats
from .store import SqlRegistryStore, open_database

log = logging.getLogger("control_plane")

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def main(argv: list[str]) -> int:
    """Entry point of ``streamfleet control-plane``. Returns the process exit code."""
    parser = argparse.ArgumentParser(
        prog="streamfleet control-plane",
        description="The fleet control plane: appliance registry, health, fleet-state stream, fill planning.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="run the gRPC and HTTP servers until SIGTERM")
    serve_cmd.add_argument(
        "--config", type=Path, default=None, help="TOML file; CONTROL_PLANE_* env vars override it"
    )
    args = parser.parse_args(argv)
    try:
        config = load(args.config)
    except ConfigError as exc:
        print(f"streamfleet control-plane: {exc}", file=sys.stderr)
        return 2
    configure_logging("control-plane", config.log_level)
    try:
        return asyncio.run(serve(config))
    except OSError as exc:
        # Typically a port already in use or an unwritable db_path.
        log.error("control plane failed to start", extra={"error": str(exc)})
        return 1


def _listen(host: str, port: int) -> socket.socket:
    """Bind the HTTP socket ourselves so a busy port fails start-up with a clear error."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=512)


@dataclass
class _Parts:
    """Everything one control-plane process runs, wired together."""

    registry: FleetRegistry
    feed: FleetFeed
    stats: Stats
    fill: FillCoordinator
    database: Database
    fill_store: SqlFillStore
    origin_client: httpx.AsyncClient
    grpc_server: FleetGrpcServer
    http: uvicorn.Server
    http_socket: socket.socket
    lease: LeaderLease


def _assemble(config: ControlPlaneConfig, clock: Clock) -> _Parts:
    """Open the registry and bind both ports. Raises OSError naming what failed."""
    # Bind the HTTP port before touching the registry, so a second instance fails harmlessly.
    http_socket = _listen(config.host, config.http_port)
    where = redacted(str(config.database)) if config.database_url else str(config.db_path)
    try:
        # One connection pool for the registry and the fill tables.
        database = open_database(config.database)
        fill_store = SqlFillStore(database)
        registry = FleetRegistry(
            SqlRegistryStore(database, database_clock=True),
            HealthPolicy(config.down_after_ms, config.degraded_error_ratio),
            clock,
            load_publish_interval_ms=config.load_publish_interval_ms,
        )
        # Replicas on one database: the one holding this lease plans fills.
        replica = config.replica_id or _default_replica_id(config)
        lease = LeaderLease(SqlLeaseStore(database), PLANNER, replica, config.http_base_url,
                            config.leader_lease_ms, registry.fleet_now_ms)
        lease.renew()  # before planning starts: a lone control plane plans at start, as ever
    except (OSError, SQLAlchemyError, DatabaseError) as exc:
        http_socket.close()
        raise OSError(f"cannot open registry {where}: {exc}") from None
    feed = FleetFeed(registry.snapshot)
    registry.add_listener(feed.publish)
    stats = Stats()
    origin_client = httpx.AsyncClient(timeout=config.catalog_timeout_s)
    fill = FillCoordinator(
        fleet=lambda: registry.snapshot,
        catalog=OriginCatalog(config.origin_url, origin_client),
        popularity=PopularityBook(fill_store, PopularityPolicy(
            config.popularity_half_life_s, config.new_release_window_s, config.new_release_quantile,
        ), clock),
        manifest_store=fill_store,
        schedule_store=fill_store,
        clock=clock,
        origin_url=config.origin_url,
        policy=PlanPolicy(replica_load_share=config.replica_load_share,
                          displace_margin=config.displace_margin, fill_fraction=config.fill_fraction),
        leading=lease.holding,
    )
    registry.add_listener(fill.on_fleet_change)
    service = FleetService(
        registry, feed, SecretBook(config.fleet_secret, config.appliance_secrets), fill, stats,
        heartbeat_interval_ms=config.heartbeat_interval_ms, down_after_ms=config.down_after_ms,
    )
    try:
        grpc_server = FleetGrpcServer(service, config.host, config.grpc_port)
    except RuntimeError as exc:  # grpc reports a failed bind as RuntimeError
        http_socket.close()
        registry.close()
        database.close()
        raise OSError(f"cannot listen on {config.host}:{config.grpc_port}: {exc}") from None
    app = build_app(config, registry, feed, stats, clock.monotonic_ms,
                    extra_routes=fill_routes(config, fill, registry, clock, leadership=lease),
                    extra_collectors=[FillCollector(fill)], replica_id=lease.holder_id,
                    planning=lease.holding)
    http = uvicorn.Server(uvicorn_config(app, config.host, config.http_port, config.http))
    return _Parts(registry, feed, stats, fill, database, fill_store, origin_client, grpc_server, http,
                  http_socket, lease)


def _default_replica_id(config: ControlPlaneConfig) -> str:
    """Stable across restarts (a restarted replica takes its own lease back at once), and unique:
    two replicas on one host cannot share an HTTP port."""
    return f"{socket.gethostname()}:{config.http_port}"


async def serve(config: ControlPlaneConfig, clock: Clock | None = None) -> int:
    """Run until SIGTERM/SIGINT, then stop gracefully. Returns 0. Raises OSError on bind failure."""
    clock = clock or SystemClock()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    parts = _assemble(config, clock)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(stop.set)

    def swept() -> None:
        parts.stats.last_sweep_ms = clock.monotonic_ms()
        try:
            parts.fill.sync()  # manifests and schedules other replicas wrote
        except Exception:
            log.exception("fill sync failed")

    def lease_changed(holding: bool) -> None:
        if holding:
            parts.fill.lead()

    # uvicorn swaps in its own handlers while it serves and re-raises the signal to these after.
    previous = {sig: signal.signal(sig, on_signal) for sig in _SIGNALS}
    try:
        await parts.grpc_server.start()
        sweeper = asyncio.create_task(sweep_forever(parts.registry, config.sweep_interval_ms, swept))
        planner = asyncio.create_task(parts.fill.run_forever(config.plan_interval_s, config.plan_debounce_ms))
        leasing = asyncio.create_task(keep_lease(parts.lease, lease_changed, holding=parts.lease.holding()))
        http_task = asyncio.create_task(parts.http.serve(sockets=[parts.http_socket]))
        log.info("control plane started", extra={
            "grpc": f"{config.host}:{parts.grpc_server.port}", "http": f"{config.host}:{config.http_port}",
            "database": redacted(str(config.database)), "appliances": len(parts.registry),
            "fleet_version": parts.registry.snapshot.version, "replica": parts.lease.holder_id,
            "planner": parts.lease.holding(),
        })
        stop_task = asyncio.create_task(stop.wait())
        await asyncio.wait({stop_task, http_task}, return_when=asyncio.FIRST_COMPLETED)
        log.info("control plane stopping")
        stop_task.cancel()
        # End WatchFleet streams first, so the gRPC grace period is not spent waiting on them.
        parts.feed.close()
        parts.http.should_exit = True
        await parts.grpc_server.stop(config.shutdown_grace_ms / 1000)
        await http_task
        for task in (sweeper, planner, leasing):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(Exception):  # best effort: the lease expires by itself anyway
            parts.lease.release()
    finally:
        parts.registry.close()
        parts.database.close()
        await parts.origin_client.aclose()
        parts.http_socket.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("control plane stopped")
    return 0

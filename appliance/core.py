"""Appliance: the cache's composition of store, catalog, fetcher, agent and counters.

Both HTTP front ends (the fast sendfile server and the starlette app) serve through one
``Appliance``: the fast path asks :meth:`Appliance.hit` (a dict lookup, no await) and hands
anything that is not a verified hit to the starlette app, which calls :meth:`Appliance.obtain`.
No HTTP types here: statuses are chosen by the adapters.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import httpx

from streamfleet import tokens
from streamfleet.addressing import ChunkKey

from .agent import FleetAgent, LoadReport
from .catalog import Catalog
from .config import ApplianceConfig
from .errors import NotStored, StoreError, UnknownContent, UpstreamError
from .eviction import StoreAdapter, make_policy
from .fill import FillStats
from .fill_agent import FillAgent
from .fill_client import GrpcManifestClient
from .fill_metrics import FillCollector
from .flight import SingleFlight
from .metrics import ApplianceMetrics
from .peers import PeerDirectory
from .scrub import Scrubber
from .stats import ServingStats
from .store import ChunkStore, StoredChunk
from .upstream import MissFetcher

log = logging.getLogger(__name__)

# A chunk evicted between its fill and its pin (a store smaller than the working set) is
# fetched again this many times before the request gives up.
_FILL_ATTEMPTS = 2
# A chunk just filled is kept from eviction this long, so the requests that waited for the fill
# can pin it even when a full, busy store is evicting as fast as it fills.
_FRESH_S = 1.0
# A disk error this recent makes the appliance report itself unhealthy.
_DISK_ERROR_WINDOW_S = 30.0


@dataclass(frozen=True, slots=True)
class Served:
    """A pinned chunk ready to send: ``cache`` is the X-Cache value, ``result`` the metrics label."""

    chunk: StoredChunk
    cache: str  # HIT | MISS
    result: str  # hit | miss | peer_fill


@dataclass(frozen=True)
class Health:
    """What /healthz answers: 200 unless ``status`` is unhealthy or overloaded."""

    status: str  # ok | draining | overloaded | unhealthy
    reason: str
    body: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "draining")


class Appliance:
    """One cache appliance's state and operations. Bound to one event loop after :meth:`start`."""

    def __init__(
        self,
        config: ApplianceConfig,
        *,
        clock: Callable[[], float] = time.time,
        origin_transport: httpx.AsyncBaseTransport | None = None,
        run_agent: bool = True,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.clock = clock
        self.keyring = config.tokens.keyring()
        self.leeway = config.tokens.leeway_seconds
        self.store = ChunkStore(
            config.data_dir,
            config.capacity_bytes,
            policy=StoreAdapter(make_policy(config.eviction_policy, config.capacity_bytes)),
            fresh_s=_FRESH_S,
        )
        self.stats = ServingStats()
        self._loop_stats: list[ServingStats] = []
        self.peers = PeerDirectory(config.id, config.site, config.peers, cooldown_s=config.peer_cooldown_s)
        self.draining = False
        # Open client connections, kept by the HTTP front end (the fast server counts sockets,
        # uvicorn mode counts requests in flight).
        self.connections: Callable[[], int] = lambda: self.stats.in_flight
        self.metrics = ApplianceMetrics(
            self.totals, self.store, lambda: self.connections(), lambda: self.draining
        )
        self._origin_transport = origin_transport
        self._run_agent = run_agent
        self._monotonic = monotonic
        self._verify_flight: SingleFlight[str, bool] = SingleFlight()
        self._client: httpx.AsyncClient | None = None
        self._catalog: Catalog | None = None
        self._fetcher: MissFetcher | None = None
        self.agent: FleetAgent | None = None
        # The fill agent (nightly fill of the manifest's titles) and its progress.
        self.fill: FillAgent | None = None
        self._scrub_task: asyncio.Task[None] | None = None
        self.fill_stats = FillStats()
        self.metrics.registry.register(FillCollector(self.fill_stats, self.store))

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store (index rebuild, in a thread), the upstream client and the agent."""
        await asyncio.to_thread(self.store.open)
        c = self.config
        self._client = httpx.AsyncClient(
            transport=self._origin_transport,
            timeout=httpx.Timeout(c.upstream_timeout_s),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            headers={"user-agent": f"streamfleet-appliance/{c.id}"},
        )
        self._catalog = Catalog(self._client, c.origin_url, c.catalog_ttl_s, c.catalog_negative_ttl_s)
        self._fetcher = MissFetcher(
            self._client,
            c,
            self._catalog,
            self.store,
            self.keyring,
            self.peers,
            clock=self.clock,
            observe=self.metrics.observe_upstream,
            observe_attempt=self.metrics.observe_attempt,
        )
        if c.scrub_bytes_per_s > 0:
            scrubber = Scrubber(self.store, c.scrub_bytes_per_s)
            self._scrub_task = asyncio.get_running_loop().create_task(scrubber.run(), name="scrubber")
        if self._run_agent and c.fill_enabled:
            self.fill = self._fill_agent(self._catalog, self._fetcher)
            self.fill.start()
        if self._run_agent:
            self.agent = FleetAgent(
                c,
                self.report,
                on_fleet=self.peers.update_from_fleet,
                on_fill_version=self._notify_fill,
                max_backoff_s=c.control_plane_max_backoff_s,
            )
            self.agent.start()
        log.info("appliance ready", extra={"appliance": c.id, "site": c.site, "url": c.http_url})

    def _fill_agent(self, catalog: Catalog, fetcher: MissFetcher) -> FillAgent:
        c = self.config
        return FillAgent(
            store=self.store,
            manifests=GrpcManifestClient(c.control_plane, c.id, c.secret),
            files=catalog.files,
            fetch=lambda key, holders: fetcher.fill(key, holders=holders),
            holders=self.peers.holders,
            load=lambda: self.connections(),
            state_path=c.data_dir / "fill_state.json",
            stats=self.fill_stats,
            yield_connections=c.fill_yield_connections,
            concurrency=c.fill_concurrency,
            poll_s=c.fill_poll_s,
        )

    def _notify_fill(self, version: int) -> None:
        if self.fill is not None:
            self.fill.notify_version(version)

    async def stop(self) -> None:
        """Stop the agents, cancel fills and checks in flight, close the upstream client."""
        if self.fill is not None:
            await self.fill.stop()
        if self.agent is not None:
            await self.agent.stop()
        await self._verify_flight.cancel_all()
        if self._scrub_task is not None:
            self._scrub_task.cancel()
            await asyncio.gather(self._scrub_task, return_exceptions=True)
        if self._fetcher is not None:
            await self._fetcher.close()
        if self._catalog is not None:
            await self._catalog.close()
        if self._client is not None:
            await self._client.aclose()

    @property
    def fetcher(self) -> MissFetcher:
        if self._fetcher is None:
            raise RuntimeError("appliance not started")
        return self._fetcher

    # -- serving --------------------------------------------------------------------------

    def add_stats(self) -> ServingStats:
        """Counters for one more event loop (the fast server's hit threads); summed by :meth:`totals`."""
        stats = ServingStats()
        self._loop_stats.append(stats)
        return stats

    def totals(self) -> ServingStats:
        """Every loop's counters added up (a snapshot)."""
        if not self._loop_stats:
            return self.stats
        return ServingStats.sum([self.stats, *self._loop_stats])

    def token_ok(self, token: str, key: ChunkKey, stats: ServingStats | None = None) -> bool:
        """Check the viewer's token for ``key``'s title; counts (in ``stats``) and logs a rejection."""
        try:
            tokens.verify(self.keyring, token, key.title, self.clock(), self.leeway)
        except tokens.TokenError as exc:
            (stats or self.stats).rejected += 1
            log.info("token rejected", extra={"title": key.title, "reason": str(exc)})
            return False
        return True

    def hit(self, key: ChunkKey) -> StoredChunk | None:
        """The pinned chunk when it is stored and verified; None otherwise (nothing pinned).

        Never awaits and never touches the network: the fast path's whole lookup.
        """
        try:
            chunk = self.store.pin(key)
        except NotStored:
            return None
        if chunk.sha256 is None and self.config.verify_on_first_hit:
            self.store.unpin(key)
            return None
        return chunk

    async def obtain(self, key: ChunkKey, *, peer_request: bool = False) -> Served:
        """A pinned chunk for ``key``, from disk or filled from a peer or the origin.

        ``peer_request`` marks a site peer filling its own miss: this appliance then goes only
        to the origin (never to another peer), so fills cannot loop. Raises UnknownContent,
        UpstreamError, UpstreamTimeout or StoreError; the caller must unpin the chunk.
        """
        try:
            chunk = self.store.pin(key)
        except NotStored:
            chunk = None
        if chunk is not None:
            if chunk.sha256 is not None or not self.config.verify_on_first_hit:
                return Served(chunk, "HIT", "hit")
            if key.cache_key in self._verify_flight:
                self.stats.flight_waits += 1
            pinned = chunk
            try:
                good = await self._verify_flight.do(key.cache_key, lambda: self._check(pinned))
            except BaseException:
                self.store.unpin(key)
                raise
            if good:
                return Served(self._refreshed(chunk), "HIT", "hit")
            self.store.unpin(key)
        for _ in range(_FILL_ATTEMPTS):
            if self.fetcher.running(key):
                self.stats.flight_waits += 1
            source = await self.fetcher.fill(key, allow_peer=not peer_request)
            try:
                chunk = self.store.pin(key)
            except NotStored:
                continue
            return Served(chunk, "MISS", "peer_fill" if source == "peer" else "miss")
        raise StoreError(f"{key.cache_key} was evicted before it could be served")

    def _refreshed(self, chunk: StoredChunk) -> StoredChunk:
        try:
            again = self.store.pin(chunk.key)
        except NotStored:
            return chunk
        self.store.unpin(chunk.key)
        return replace(chunk, sha256=again.sha256)

    async def _check(self, chunk: StoredChunk) -> bool:
        """Read a chunk found on disk at start-up back and compare it with the catalog.

        True when it is good (or the origin cannot be asked: serving the size-checked file
        beats failing); False when it was corrupt and has been dropped. Raises UnknownContent
        when the origin no longer knows the file.
        """
        try:
            info = await self.fetcher.catalog.file_info(chunk.key)
        except UnknownContent:
            raise
        except UpstreamError as exc:
            log.warning(
                "cannot verify a chunk (origin unreachable); serving it unverified",
                extra={"key": chunk.key.cache_key, "error": str(exc)},
            )
            return True
        try:
            digest = await asyncio.to_thread(_file_sha256, str(chunk.path))
        except OSError as exc:
            self.store.record_disk_error()
            log.error("cannot read a chunk back", extra={"key": chunk.key.cache_key, "error": str(exc)})
            digest = ""
        if chunk.size == info.size and digest == info.sha256:
            self.store.mark_verified(chunk.key, digest, chunk.stat)
            return True
        self.store.drop_corrupt(chunk.key)
        return False

    # -- operations -----------------------------------------------------------------------

    async def health(self) -> Health:
        """The appliance's own view of its health (disk, load, drain state)."""
        self.store.trim()  # the heartbeat's and /healthz's beat also ends brief overshoots
        writable = await asyncio.to_thread(self.store.check_writable)
        last_error = self.store.stats.last_disk_error
        recent_error = last_error > 0 and self._monotonic() - last_error < _DISK_ERROR_WINDOW_S
        connections = self.connections()
        body: dict[str, Any] = {
            "appliance": self.config.id,
            "site": self.config.site,
            "disk_used_bytes": self.store.used_bytes,
            "disk_capacity_bytes": self.store.capacity_bytes,
            "chunks": len(self.store),
            "connections": connections,
            "disk_errors": self.store.stats.disk_errors,
            "draining": self.draining,
        }
        if not writable:
            status, reason = "unhealthy", "chunk store is not writable"
        elif recent_error:
            status, reason = "unhealthy", "recent disk errors"
        elif connections > self.config.overload_connections:
            status, reason = "overloaded", f"{connections} connections"
        elif self.draining:
            status, reason = "draining", "draining: serving, but steering should send viewers elsewhere"
        else:
            status, reason = "ok", ""
        body["status"] = status
        if reason:
            body["reason"] = reason
        return Health(status, reason, body)

    async def report(self) -> LoadReport:
        """The heartbeat's view of this appliance."""
        health = await self.health()
        s = self.totals()
        return LoadReport(
            healthy=health.ok,
            disk_used_bytes=self.store.used_bytes,
            disk_capacity_bytes=self.store.capacity_bytes,
            connections=self.connections(),
            hits=s.hits,
            misses=s.misses + s.peer_fills,
            errors=s.errors,
            bytes_sent=s.bytes_sent,
            titles=self.store.titles(),
            draining=self.draining,
            fill_version=self.fill_stats.version,
            fill_bytes_done=self.fill_stats.bytes_done,
            fill_bytes_total=self.fill_stats.bytes_total,
        )


def etag_of(chunk: StoredChunk) -> str:
    """The chunk's sha256 when verified (what the origin uses), else size and mtime."""
    if chunk.sha256 is not None:
        return f'"{chunk.sha256}"'
    return f'"{chunk.size:x}-{chunk.stat.st_mtime_ns:x}"'


def _file_sha256(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()

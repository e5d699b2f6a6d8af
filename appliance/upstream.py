"""Miss fill: fetch a chunk from a site peer or the origin, verify it, commit it to the store.

Upstream order (DESIGN.md): the site peers placement ranks ahead of this appliance, then the
origin. A peer request carries ``X-Streamfleet-Peer-Fill`` so the peer fills its own miss from
the origin only (no peer-to-peer loops). Every copy is checked against the origin's catalog
(size and sha256) before it is committed, whoever sent it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Sequence

import httpx

from streamfleet import requestid, tokens
from streamfleet.addressing import ChunkKey

from .catalog import Catalog, FileInfo, origin_errors
from .config import ApplianceConfig
from .errors import ChecksumMismatch, ChunkTooLarge, UnknownContent, UpstreamError, UpstreamTimeout
from .flight import SingleFlight
from .peers import Peer, PeerDirectory
from .progress import FillProgress
from .store import ChunkStore

log = logging.getLogger(__name__)

PEER_FILL_HEADER = "x-streamfleet-peer-fill"
# Sent (as Cache-Control) to peers the fill asks: answer from disk or say 504, never fetch for us.
ONLY_IF_CACHED = "only-if-cached"

# (outcome, seconds) of every whole fill; outcome is ok|timeout|error|mismatch|not_found|cancelled.
FetchObserver = Callable[[str, float], None]
# (upstream, outcome, seconds) of every single attempt; upstream is peer|origin.
AttemptObserver = Callable[[str, str, float], None]


def _ignore(outcome: str, seconds: float) -> None:
    return None


def _ignore_attempt(upstream: str, outcome: str, seconds: float) -> None:
    return None


def _outcome(exc: BaseException) -> str:
    if isinstance(exc, UpstreamTimeout):
        return "timeout"
    if isinstance(exc, ChecksumMismatch):
        return "mismatch"
    if isinstance(exc, UnknownContent):
        return "not_found"
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled"
    return "error"


class MissFetcher:
    """Fills misses, one upstream fetch per chunk at a time (single-flight).

    The appliance signs its own short-lived token for each upstream URL (it holds the fleet
    keys). The body is streamed into a store temp file while hashing; progress is published
    (:meth:`progress`) so the first viewers can be sent bytes before the fill completes. Safe
    across tasks of one event loop.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        config: ApplianceConfig,
        catalog: Catalog,
        store: ChunkStore,
        keyring: tokens.Keyring,
        peers: PeerDirectory,
        clock: Callable[[], float] = time.time,
        token_ttl_s: int = 300,
        observe: FetchObserver = _ignore,
        observe_attempt: AttemptObserver = _ignore_attempt,
        retry_delay_s: float = 0.05,
    ) -> None:
        self._client = client
        self._config = config
        self._origin = config.origin_base
        self.catalog = catalog
        self._store = store
        self._keyring = keyring
        self._peers = peers
        self._clock = clock
        self._token_ttl_s = token_ttl_s
        self._observe = observe
        self._observe_attempt = observe_attempt
        self._retry_delay_s = retry_delay_s
        self._peer_timeout = httpx.Timeout(
            config.peer_timeout_s, connect=config.peer_connect_timeout_s
        )
        self._flight: SingleFlight[str, str] = SingleFlight()
        self._progress: dict[str, FillProgress] = {}
        self._published = asyncio.Event()
        # Chunk requests sent upstream, to the origin and to peers.
        self.upstream_requests = 0
        self.peer_requests = 0

    @property
    def in_flight(self) -> int:
        """Chunks being fetched right now."""
        return len(self._flight)

    def running(self, key: ChunkKey) -> bool:
        """True when a fill of ``key`` is in flight (a new caller would join it)."""
        return key.cache_key in self._flight

    def progress(self, key: ChunkKey) -> FillProgress | None:
        """The in-flight fill's temp file and byte count, once its body started arriving."""
        return self._progress.get(key.cache_key)

    async def published(self) -> None:
        """Return the next time any fill publishes its progress (its body started)."""
        await self._published.wait()

    def _publish(self, key: ChunkKey, progress: FillProgress) -> None:
        self._progress[key.cache_key] = progress
        event, self._published = self._published, asyncio.Event()
        event.set()

    async def fill(
        self, key: ChunkKey, allow_peer: bool = True, holders: Sequence[Peer] | None = None
    ) -> str:
        """Make sure ``key`` is in the store, fetching it unless a fetch is already running.

        Returns where the bytes came from: "peer" or "origin". ``allow_peer=False`` (a peer's
        own fill request) goes to the origin only, unless it joins a fill already running.
        ``holders`` (the fill agent): ask these peers instead of placement's candidates, with
        ``Cache-Control: only-if-cached`` so a peer lacking the chunk says so rather than fetch it.
        Raises UnknownContent, UpstreamTimeout, UpstreamError (ChecksumMismatch included) or
        StoreError; on any error nothing is stored.
        """
        return await self._flight.do(key.cache_key, lambda: self._fetch(key, allow_peer, holders))

    async def close(self) -> None:
        """Cancel the fetches in flight (their temp files are deleted)."""
        await self._flight.cancel_all()

    async def _fetch(self, key: ChunkKey, allow_peer: bool, holders: Sequence[Peer] | None = None) -> str:
        started = time.monotonic()
        outcome = "error"
        try:
            info = await self.catalog.file_info(key)
            if info.size > self._store.capacity_bytes:
                raise ChunkTooLarge(f"{key.cache_key} ({info.size} bytes) exceeds the store capacity")
            source = await self._from_peers(key, info, holders) if allow_peer else None
            if source is None:
                await self._from_origin(key, info)
                source = "origin"
            outcome = "ok"
            log.info(
                f"filled a miss from the {source}",
                extra={
                    "key": key.cache_key,
                    "bytes": info.size,
                    "seconds": round(time.monotonic() - started, 4),
                },
            )
            return source
        except BaseException as exc:
            outcome = _outcome(exc)
            raise
        finally:
            self._observe(outcome, time.monotonic() - started)

    async def _from_peers(
        self, key: ChunkKey, info: FileInfo, holders: Sequence[Peer] | None = None
    ) -> str | None:
        cached_only = holders is not None
        for peer in self._peers.candidates(key.title) if holders is None else holders:
            url = peer.url + key.signed_path(self._token(key))
            started = time.monotonic()
            try:
                self.peer_requests += 1
                await self._download(
                    key, url, info, timeout=self._peer_timeout, peer=True, cached_only=cached_only
                )
            except (UpstreamError, UnknownContent) as exc:
                self._observe_attempt("peer", _outcome(exc), time.monotonic() - started)
                if isinstance(exc, UpstreamError) and not isinstance(exc, ChecksumMismatch):
                    self._peers.suspend(peer.id)  # stalled or unreachable: spare the next misses
                # A peer without the chunk is ordinary (it holds the title only partly).
                log.log(
                    logging.DEBUG if isinstance(exc, UnknownContent) else logging.WARNING,
                    "peer fill failed; trying the next upstream",
                    extra={"key": key.cache_key, "peer": peer.id, "error": str(exc)},
                )
                continue
            self._observe_attempt("peer", "ok", time.monotonic() - started)
            return "peer"
        return None

    async def _from_origin(self, key: ChunkKey, info: FileInfo) -> None:
        attempts = 1 + self._config.upstream_retries
        for attempt in range(1, attempts + 1):
            started = time.monotonic()
            try:
                await self._download(key, self._origin + key.signed_path(self._token(key)), info)
            except (UpstreamTimeout, ChecksumMismatch, UnknownContent) as exc:
                # Not worth retrying: a slow origin stays slow, bad bytes need an operator.
                self._observe_attempt("origin", _outcome(exc), time.monotonic() - started)
                raise
            except UpstreamError as exc:
                self._observe_attempt("origin", "error", time.monotonic() - started)
                if attempt == attempts:
                    raise
                log.info("origin fetch failed; retrying", extra={"key": key.cache_key, "error": str(exc)})
                await asyncio.sleep(self._retry_delay_s * attempt)
                continue
            self._observe_attempt("origin", "ok", time.monotonic() - started)
            return

    def _token(self, key: ChunkKey) -> str:
        return tokens.sign(self._keyring, key.title, int(self._clock()) + self._token_ttl_s)

    async def _download(
        self,
        key: ChunkKey,
        url: str,
        info: FileInfo,
        timeout: httpx.Timeout | None = None,
        peer: bool = False,
        cached_only: bool = False,
    ) -> None:
        writer = await asyncio.to_thread(self._store.writer, key, info.size)
        progress = FillProgress(writer.path, info.size, info.sha256)
        what = "peer fetch" if peer else "chunk fetch"
        headers = {PEER_FILL_HEADER: self._config.id} if peer else {}
        rid = requestid.current.get()
        if rid is not None:
            headers[requestid.HEADER] = rid  # the viewer's id follows the miss to the peer/origin
        if cached_only:
            headers["cache-control"] = ONLY_IF_CACHED
        try:
            digest = hashlib.sha256()
            self.upstream_requests += 1
            with origin_errors(what):
                request = self._client.build_request("GET", url, headers=headers)
                if timeout is not None:
                    request.extensions["timeout"] = timeout.as_dict()
                response = await self._client.send(request, stream=True)
                try:
                    if response.status_code == 404 or (cached_only and response.status_code == 504):
                        raise UnknownContent(f"upstream has no {key.cache_key}")
                    if response.status_code != 200:
                        raise UpstreamError(f"upstream answered {response.status_code} for {key.cache_key}")
                    self._publish(key, progress)
                    async for data in response.aiter_bytes():
                        if writer.size + len(data) > info.size:
                            raise ChecksumMismatch(f"{key.cache_key}: more than {info.size} bytes")
                        digest.update(data)
                        await asyncio.to_thread(writer.write_flush, data)
                        progress.advance(writer.size)
                finally:
                    await response.aclose()
            if writer.size != info.size or digest.hexdigest() != info.sha256:
                log.warning(
                    "upstream bytes do not match the catalog; discarded",
                    extra={"key": key.cache_key, "bytes": writer.size, "expected_bytes": info.size},
                )
                raise ChecksumMismatch(f"{key.cache_key}: size or sha256 differs from the catalog")
            await asyncio.to_thread(writer.commit, info.sha256)
            progress.finish(ok=True)
        finally:
            if self._progress.get(key.cache_key) is progress:
                del self._progress[key.cache_key]
            progress.finish(ok=False)  # no-op after a successful finish
            writer.discard()  # no-op once committed

"""Miss fill: fetch a chunk from the origin, verify it against the catalog, commit it to the store."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable

import httpx

from streamfleet import tokens
from streamfleet.addressing import ChunkKey

from .catalog import Catalog, FileInfo, origin_errors
from .errors import ChecksumMismatch, ChunkTooLarge, UnknownContent, UpstreamError, UpstreamTimeout
from .flight import SingleFlight
from .store import ChunkStore

log = logging.getLogger(__name__)

# (outcome, seconds) of every upstream fetch; outcome is ok|timeout|error|mismatch|not_found|cancelled.
FetchObserver = Callable[[str, float], None]


def _ignore(outcome: str, seconds: float) -> None:
    return None


class MissFetcher:
    """Fills misses from the origin, one upstream fetch per chunk at a time.

    The appliance signs its own short-lived token for the upstream URL (it holds the fleet keys).
    The body is streamed into a store temp file while hashing, so nothing larger than one network
    read is held in memory; it is committed only when size and sha256 match the catalog. Safe
    across tasks of one event loop.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        origin_url: str,
        catalog: Catalog,
        store: ChunkStore,
        keyring: tokens.Keyring,
        clock: Callable[[], float] = time.time,
        token_ttl_s: int = 300,
        observe: FetchObserver = _ignore,
    ) -> None:
        self._client = client
        self._origin = origin_url.rstrip("/")
        self._catalog = catalog
        self._store = store
        self._keyring = keyring
        self._clock = clock
        self._token_ttl_s = token_ttl_s
        self._observe = observe
        self._flight: SingleFlight[str, FileInfo] = SingleFlight()
        # Chunk requests sent to the origin.
        self.upstream_requests = 0

    @property
    def in_flight(self) -> int:
        """Chunks being fetched right now."""
        return len(self._flight)

    async def fill(self, key: ChunkKey) -> FileInfo:
        """Make sure ``key`` is in the store, fetching it unless a fetch is already running.

        Returns the catalog's size and sha256 of the chunk now stored. Raises UnknownContent,
        UpstreamTimeout, UpstreamError (ChecksumMismatch included) or StoreError; on any error
        nothing is stored.
        """
        return await self._flight.do(key.cache_key, lambda: self._fetch(key))

    async def close(self) -> None:
        """Cancel the fetches in flight (their temp files are deleted)."""
        await self._flight.cancel_all()

    async def _fetch(self, key: ChunkKey) -> FileInfo:
        started = time.monotonic()
        outcome = "error"
        try:
            info = await self._catalog.file_info(key)
            if info.size > self._store.capacity_bytes:
                raise ChunkTooLarge(f"{key.cache_key} ({info.size} bytes) exceeds the store capacity")
            token = tokens.sign(self._keyring, key.title, int(self._clock()) + self._token_ttl_s)
            await self._download(key, self._origin + key.signed_path(token), info)
            outcome = "ok"
            log.info(
                "filled a miss from the origin",
                extra={
                    "key": key.cache_key,
                    "bytes": info.size,
                    "seconds": round(time.monotonic() - started, 4),
                },
            )
            return info
        except UpstreamTimeout:
            outcome = "timeout"
            raise
        except ChecksumMismatch:
            outcome = "mismatch"
            raise
        except UnknownContent:
            outcome = "not_found"
            raise
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        finally:
            self._observe(outcome, time.monotonic() - started)

    async def _download(self, key: ChunkKey, url: str, info: FileInfo) -> None:
        writer = await asyncio.to_thread(self._store.writer, key)
        try:
            digest = hashlib.sha256()
            self.upstream_requests += 1
            with origin_errors("chunk fetch"):
                async with self._client.stream("GET", url) as response:
                    if response.status_code == 404:
                        raise UnknownContent(f"origin has no {key.cache_key}")
                    if response.status_code != 200:
                        raise UpstreamError(f"origin answered {response.status_code} for {key.cache_key}")
                    async for data in response.aiter_bytes():
                        if writer.size + len(data) > info.size:
                            raise ChecksumMismatch(
                                f"{key.cache_key}: origin sent more than {info.size} bytes"
                            )
                        digest.update(data)
                        await asyncio.to_thread(writer.write, data)
            if writer.size != info.size or digest.hexdigest() != info.sha256:
                log.warning(
                    "origin bytes do not match the catalog; discarded",
                    extra={"key": key.cache_key, "bytes": writer.size, "expected_bytes": info.size},
                )
                raise ChecksumMismatch(f"{key.cache_key}: size or sha256 differs from the catalog")
            await asyncio.to_thread(writer.commit)
        finally:
            writer.discard()  # no-op once committed

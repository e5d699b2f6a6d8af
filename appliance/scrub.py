"""Scrubber: reads every verified chunk back, slowly, and drops the ones whose bytes went bad.

Every hit already stats its file, so a chunk that was written to or replaced behind the
store's back (size, inode, mtime or ctime changed) is hashed again before it is served. What
that cannot see is the disk itself returning different bytes for an untouched file (bit rot,
a failing controller). The scrubber covers that: it walks the verified chunks in a loop, hashes
each in a worker thread at no more than ``bytes_per_s`` on average, and drops a chunk whose
sha256 no longer matches the one it was verified with (the next request fetches it again).
It does not count as a use (LRU order is untouched) and pins the chunk while it reads it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable

from streamfleet.addressing import ChunkKey

from .errors import NotStored
from .store import ChunkStore

log = logging.getLogger(__name__)

# With nothing verified to read, look again after this long.
_IDLE_S = 10.0


class Scrubber:
    """Background verification of stored chunks. Bound to one event loop; :meth:`run` until cancelled."""

    def __init__(
        self,
        store: ChunkStore,
        bytes_per_s: float,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if bytes_per_s <= 0:
            raise ValueError("bytes_per_s must be positive")
        self._store = store
        self._rate = bytes_per_s
        self._sleep = sleep
        self._monotonic = monotonic
        # Full passes over the store completed.
        self.passes = 0

    async def run(self) -> None:
        """Scrub pass after pass until cancelled."""
        while True:
            keys = self._store.verified_keys()
            if not keys:
                await self._sleep(_IDLE_S)
                continue
            for key in keys:
                await self.check(key)
            self.passes += 1

    async def check(self, key: ChunkKey) -> bool | None:
        """Hash one chunk and drop it if it went bad, then wait out its share of the rate.

        Returns True when good, False when dropped, None when not checked (gone, not verified
        yet, or unreadable -- a read error is counted as a disk error).
        """
        try:
            chunk = self._store.pin(key, touch=False)
        except NotStored:
            return None
        started = self._monotonic()
        try:
            if chunk.sha256 is None:
                return None  # changed or never verified: its next hit verifies it
            try:
                digest = await asyncio.to_thread(_sha256, chunk.fspath)
            except OSError as exc:
                self._store.record_disk_error()
                log.error("cannot read a chunk back", extra={"key": key.cache_key, "error": str(exc)})
                return None
        finally:
            self._store.unpin(key)
        self._store.stats.scrubbed_chunks += 1
        self._store.stats.scrubbed_bytes += chunk.size
        good = digest == chunk.sha256
        if not good:
            log.error("scrub found a corrupt chunk; dropping it", extra={"key": key.cache_key})
            self._store.drop_corrupt(key)
        await self._sleep(max(0.0, chunk.size / self._rate - (self._monotonic() - started)))
        return good


def _sha256(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()

"""FillAgent: fills the store with the fill manifest's titles inside the fill window, and pins them.

Two tasks. One follows the manifest: GetFillManifest with the known version every ``poll_s``,
and at once when a heartbeat reply names a newer version; a new manifest pins its titles in the
store (the old ones become ordinary cache) and is written to the state file. The other fills:
outside the window it waits (having surveyed the store, so progress is reported); inside, it
lists every file of the manifest's titles from the origin's catalog, skips what the store holds
(the store is the progress record, so a restart resumes where it stopped) and fetches the rest
chunk by chunk through the miss path (``MissFetcher.fill``: single-flight with viewer misses,
verified against the catalog, committed atomically) from a site peer that reports holding the
title, else the origin; at most at the window's rate, and paused while viewers keep more than
``yield_connections`` connections open.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

from streamfleet.addressing import ChunkKey

from .catalog import FileInfo
from .errors import ApplianceError, FillError
from .fill import (
    FillEntry,
    FillManifest,
    FillStats,
    FillWindow,
    ManifestClient,
    WantedChunk,
    diff,
    load_state,
    save_state,
    seconds_until_open,
    title_chunks,
    window_open,
)
from .peers import Peer
from .ratelimit import Sleep, TokenBucket
from .store import ChunkStore

log = logging.getLogger(__name__)

# title -> its files (cache key -> size, sha256); raises ApplianceError.
FilesFn = Callable[[str], Awaitable[Mapping[str, FileInfo]]]
# (key, peers to ask first) -> "peer" | "origin"; raises ApplianceError.
FetchFn = Callable[[ChunkKey, Sequence[Peer]], Awaitable[str]]
# title -> site peers that report holding it.
HoldersFn = Callable[[str], Sequence[Peer]]

_COMPLETE, _INCOMPLETE, _INTERRUPTED = "complete", "incomplete", "interrupted"


def _no_load() -> int:
    return 0


def _no_holders(title: str) -> Sequence[Peer]:
    return ()


class FillAgent:
    """Runs the fill until :meth:`stop`. Bound to the event loop that calls :meth:`start`."""

    def __init__(
        self,
        *,
        store: ChunkStore,
        manifests: ManifestClient,
        files: FilesFn,
        fetch: FetchFn,
        state_path: Path,
        holders: HoldersFn = _no_holders,
        load: Callable[[], int] = _no_load,
        stats: FillStats | None = None,
        yield_connections: int = 256,
        concurrency: int = 2,
        poll_s: float = 30.0,
        retry_s: float = 5.0,
        recheck_s: float = 600.0,
        pause_s: float = 0.5,
        progress_log_s: float = 5.0,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """``yield_connections``: pause while more client connections are open (0 = never).
        ``poll_s``: manifest poll period. ``retry_s``: wait before retrying failed chunks and an
        unreachable control plane. ``recheck_s``: how often a complete fill looks again (a
        chunk dropped as corrupt is refetched). ``clock``: unix seconds, for the window."""
        self._store = store
        self._manifests = manifests
        self._files = files
        self._fetch = fetch
        self._holders = holders
        self._load = load
        self._state_path = state_path
        self.stats = stats if stats is not None else FillStats()
        self._yield_connections = yield_connections
        self._concurrency = max(1, concurrency)
        self._poll_s = poll_s
        self._retry_s = retry_s
        self._recheck_s = recheck_s
        self._pause_s = pause_s
        self._progress_log_s = progress_log_s
        self._clock = clock
        self._monotonic = monotonic
        self._sleep = sleep
        self._bucket = TokenBucket(0, clock=monotonic)
        self._manifest: FillManifest | None = None
        self._changed = asyncio.Event()
        self._hint = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._surveyed = -1
        self._completed = -1
        # Manifest versions whose wait for the window was already logged.
        self._waiting = -1
        self._failures = 0
        self._last_log = (0.0, 0)

    @property
    def manifest(self) -> FillManifest | None:
        """The manifest being applied; None before the first one."""
        return self._manifest

    @property
    def known_version(self) -> int:
        return self._manifest.version if self._manifest is not None else 0

    def notify_version(self, version: int) -> None:
        """The control plane's latest manifest version (from a heartbeat reply): fetch it soon."""
        if version != self.known_version:
            self._hint.set()

    def start(self) -> None:
        """Apply the saved manifest (pins, resume) and start both tasks; returns at once."""
        saved = load_state(self._state_path)
        if saved is not None:
            self._adopt(saved, "state file")
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._follow(), name="fill-manifest"),
                       loop.create_task(self._fill(), name="fill")]

    async def stop(self) -> None:
        """Cancel both tasks and close the manifest client (fetches in flight belong to the
        fetcher, which the appliance closes)."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._manifests.close()

    # -- the manifest ------------------------------------------------------------------------

    async def _follow(self) -> None:
        failures = 0
        while True:
            self._hint.clear()
            try:
                manifest = await self._manifests.fetch(self.known_version)
            except FillError as exc:
                failures += 1
                level = logging.WARNING if failures == 1 else logging.DEBUG
                log.log(level, "cannot get the fill manifest; keeping the current one",
                        extra={"error": str(exc), "known_version": self.known_version})
                await asyncio.sleep(min(self._retry_s * failures, self._poll_s))
                continue
            if failures:
                log.info("fill manifest reachable again", extra={"failed_attempts": failures})
                failures = 0
            if manifest is not None:
                self._adopt(manifest, "control plane")
                try:
                    await asyncio.to_thread(save_state, self._state_path, manifest)
                except OSError as exc:
                    log.warning("cannot save the fill state file", extra={"error": str(exc)})
            await _wait(self._hint, self._poll_s)

    def _adopt(self, manifest: FillManifest, source: str) -> None:
        previous = self.known_version
        self._manifest = manifest
        self._store.pin_titles(manifest.titles)
        self._bucket.set_rate(manifest.window.rate_bits_per_second / 8)
        s = self.stats
        s.version, s.bytes_total, s.bytes_done = manifest.version, manifest.planned_bytes, 0
        self._surveyed = -1
        self._changed.set()
        log.info("fill manifest applied", extra={
            "version": manifest.version, "previous_version": previous, "source": source,
            "titles": len(manifest.entries), "planned_bytes": manifest.planned_bytes,
            "window": _describe(manifest.window), "run_now_until": manifest.window.run_now_until,
            "rate_bits_per_second": manifest.window.rate_bits_per_second,
        })

    # -- filling -----------------------------------------------------------------------------

    async def _fill(self) -> None:
        while True:
            self._changed.clear()
            manifest = self._manifest
            wait = self._poll_s
            if manifest is None:
                self.stats.state = "idle"
            elif not window_open(manifest.window, self._clock()):
                if self._surveyed != manifest.version:
                    await self._survey(manifest)
                if self.stats.complete:
                    self.stats.state = "complete"
                else:
                    self.stats.state = "waiting"
                    if self._waiting != manifest.version:
                        self._waiting = manifest.version
                        log.info("fill waiting for its window", extra={
                            "version": manifest.version, "window": _describe(manifest.window),
                            "opens_in_s": round(seconds_until_open(manifest.window, self._clock()))})
                wait = min(wait, seconds_until_open(manifest.window, self._clock()) + 0.05)
            else:
                outcome = await self._pass(manifest)
                if outcome == _INTERRUPTED:
                    continue
                wait = self._retry_s if outcome == _INCOMPLETE else self._recheck_s
            await _wait(self._changed, wait)

    async def _resolve(self, manifest: FillManifest) -> tuple[list[WantedChunk], list[FillEntry]]:
        """Every file of the manifest's titles in fill order, and the entries whose files could
        not be listed (retried on the next pass)."""
        chunks: list[WantedChunk] = []
        failed: list[FillEntry] = []
        for entry in sorted(manifest.entries, key=lambda e: e.priority):
            try:
                files = await self._files(entry.title)
            except ApplianceError as exc:
                failed.append(entry)
                log.warning("cannot list a title's files for the fill; will retry",
                            extra={"title": entry.title, "error": str(exc)})
                continue
            chunks.extend(title_chunks(entry.title, files))
        return chunks, failed

    async def _survey(self, manifest: FillManifest) -> tuple[tuple[WantedChunk, ...], list[FillEntry]]:
        """Work out what is missing and report it as progress; returns (missing, failed entries)."""
        chunks, failed = await self._resolve(manifest)
        plan = diff(chunks, self._store.__contains__)
        if self._manifest is manifest:
            self._surveyed = manifest.version
            self.stats.bytes_total = plan.bytes_total + sum(e.bytes for e in failed)
            self.stats.bytes_done = plan.bytes_present
            if plan.complete and not failed:
                self.stats.state = "complete"
        self.stats.chunks["present"] += plan.chunks_total - len(plan.missing)
        return plan.missing, failed

    async def _pass(self, manifest: FillManifest) -> str:
        missing, failed = await self._survey(manifest)
        if self._interrupted(manifest):
            return _INTERRUPTED
        self._failures = len(failed)
        if missing:
            self.stats.state = "filling"
            log.info("fill started", extra={
                "version": manifest.version, "chunks_missing": len(missing),
                "bytes_missing": sum(c.size for c in missing), "bytes_done": self.stats.bytes_done,
                "bytes_total": self.stats.bytes_total, "rate_bits_per_second": round(self._bucket.rate * 8)})
            self._last_log = (self._monotonic(), self.stats.bytes_filled)
            queue = deque(missing)
            workers = [asyncio.create_task(self._worker(manifest, queue)) for _ in range(self._concurrency)]
            try:
                await asyncio.gather(*workers)
            finally:
                for worker in workers:
                    worker.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
            if self._interrupted(manifest):
                log.info("fill interrupted", extra={
                    "version": manifest.version, "manifest_changed": self._manifest is not manifest,
                    "bytes_done": self.stats.bytes_done, "bytes_total": self.stats.bytes_total})
                return _INTERRUPTED
            self._log_progress(manifest, force=True)
        if self._failures:
            self.stats.state = "incomplete"
            log.warning("fill pass incomplete; retrying", extra={
                "version": manifest.version, "failures": self._failures, "retry_s": self._retry_s})
            return _INCOMPLETE
        self.stats.state = "complete"
        if self._completed != manifest.version:
            self._completed = manifest.version
            log.info("fill complete", extra={"version": manifest.version, "titles": len(manifest.entries),
                                             "bytes_total": self.stats.bytes_total})
        return _COMPLETE

    async def _worker(self, manifest: FillManifest, queue: deque[WantedChunk]) -> None:
        while queue and not self._interrupted(manifest):
            await self._yield_to_viewers(manifest)
            if not queue or self._interrupted(manifest):
                return
            await self._fill_chunk(queue.popleft())
            self._log_progress(manifest)

    async def _fill_chunk(self, chunk: WantedChunk) -> None:
        s = self.stats
        if chunk.key in self._store:  # a viewer's miss brought it meanwhile
            s.chunks["present"] += 1
            s.bytes_done += chunk.size
            return
        if self._store.fill_pinned_bytes + chunk.size > self._store.capacity_bytes:
            # The plan should never exceed the disk; pinned chunks would push everything out.
            s.chunks["no_room"] += 1
            self._failures += 1
            log.warning("fill manifest exceeds the store capacity; chunk skipped", extra={
                "key": chunk.key.cache_key, "pinned_bytes": self._store.fill_pinned_bytes})
            return
        await self._bucket.acquire(chunk.size, self._sleep)
        try:
            source = await self._fetch(chunk.key, self._holders(chunk.key.title))
        except ApplianceError as exc:
            s.chunks["error"] += 1
            self._failures += 1
            log.warning("fill could not fetch a chunk; will retry",
                        extra={"key": chunk.key.cache_key, "error": str(exc)})
            return
        s.chunks[source] += 1
        s.bytes_filled += chunk.size
        s.bytes_done += chunk.size

    async def _yield_to_viewers(self, manifest: FillManifest) -> None:
        """Wait while viewers keep the appliance busy (the fill never competes with them)."""
        if self._yield_connections <= 0 or self._load() <= self._yield_connections:
            return
        if self.stats.state != "paused":
            self.stats.state = "paused"
            log.info("fill paused: viewer load", extra={"connections": self._load(),
                                                        "yield_connections": self._yield_connections})
        while self._load() > self._yield_connections and not self._interrupted(manifest):
            await self._sleep(self._pause_s)
        if self.stats.state == "paused":
            self.stats.state = "filling"
            log.info("fill resumed", extra={"connections": self._load()})

    def _interrupted(self, manifest: FillManifest) -> bool:
        """True when the manifest changed or its window closed: the pass must stop."""
        return self._manifest is not manifest or not window_open(manifest.window, self._clock())

    def _log_progress(self, manifest: FillManifest, force: bool = False) -> None:
        now = self._monotonic()
        then, filled = self._last_log
        if not force and now - then < self._progress_log_s:
            return
        self._last_log = (now, self.stats.bytes_filled)
        s = self.stats
        log.info("fill progress", extra={
            "version": manifest.version, "bytes_done": s.bytes_done, "bytes_total": s.bytes_total,
            "percent": round(100 * s.bytes_done / s.bytes_total, 1) if s.bytes_total else 100.0,
            "from_origin": s.chunks["origin"], "from_peers": s.chunks["peer"], "errors": s.chunks["error"],
            "bytes_per_second": round((s.bytes_filled - filled) / max(now - then, 1e-3)),
        })


async def _wait(event: asyncio.Event, timeout: float) -> None:
    """Return when ``event`` is set or after ``timeout`` seconds, whichever is first."""
    try:
        await asyncio.wait_for(event.wait(), max(timeout, 0.0))
    except TimeoutError:
        pass


def _describe(window: FillWindow) -> str:
    return f"{window.start}-{window.end} {window.tz or 'UTC'}" if window.start else "any time"

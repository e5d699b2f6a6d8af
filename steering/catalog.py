"""Title lookups against the origin's catalog, cached, coalesced and served stale when it is away."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import httpx
from cachetools import LRUCache

from streamfleet import addressing

from .errors import CatalogUnavailable, UnknownTitle

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReadyTitle:
    """What a playback answer needs to know of a playable title."""

    # The title has a DASH manifest (titles ingested before DASH have HLS playlists only).
    dash: bool


class TitleLookup(Protocol):
    async def require_ready(self, title: str) -> ReadyTitle:
        """``title`` (a valid id) when it exists and is ready; raises UnknownTitle or CatalogUnavailable."""
        ...


@dataclass(frozen=True, slots=True)
class _Entry:
    ready: bool
    # Why a title is not playable ("unknown title", "not ready: encoding"); "" when ready.
    reason: str
    fetched_at: float
    dash: bool = False


class _OriginDown(Exception):
    pass


class TitleCatalog:
    """Asks ``GET {origin}/v1/titles/{id}`` and caches the verdict.

    Ready titles are believed for ``ttl`` seconds, unknown or unready ones for ``negative_ttl``
    (a title being ingested becomes ready soon). When the origin cannot be asked, an expired
    entry younger than ``stale`` still answers. Concurrent lookups of one title share one request.
    Use from one event loop only.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        origin_url: str,
        *,
        ttl: float = 30.0,
        negative_ttl: float = 2.0,
        stale: float = 3600.0,
        max_entries: int = 10_000,
        timeout: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._origin = origin_url.rstrip("/")
        self._ttl = ttl
        self._negative_ttl = negative_ttl
        self._stale = stale
        self._timeout = timeout
        self._clock = clock
        self._cache: LRUCache[str, _Entry] = LRUCache(maxsize=max_entries)
        self._inflight: dict[str, asyncio.Task[_Entry]] = {}
        self.lookups = 0  # requests sent to the origin
        self.stale_answers = 0  # answers given from expired entries while the origin was away

    async def require_ready(self, title: str) -> ReadyTitle:
        entry = self._cache.get(title)
        now = self._clock()
        if entry is None or now - entry.fetched_at > (self._ttl if entry.ready else self._negative_ttl):
            try:
                entry = await self._coalesced(title)
            except _OriginDown as exc:
                if entry is None or now - entry.fetched_at > self._stale:
                    raise CatalogUnavailable(f"origin unreachable: {exc}") from None
                self.stale_answers += 1
                log.warning("origin unreachable; answering from cache", extra={"title": title})
        if not entry.ready:
            raise UnknownTitle(entry.reason)
        return ReadyTitle(entry.dash)

    async def _coalesced(self, title: str) -> _Entry:
        task = self._inflight.get(title)
        if task is None:
            # A task of its own, so a requester that gives up does not cancel the others' lookup.
            task = asyncio.get_running_loop().create_task(self._fetch(title))
            self._inflight[title] = task
            task.add_done_callback(lambda t: self._finished(title, t))
        return await asyncio.shield(task)

    def _finished(self, title: str, task: asyncio.Task[_Entry]) -> None:
        self._inflight.pop(title, None)
        if not task.cancelled():
            task.exception()  # mark as retrieved even when every requester went away

    async def _fetch(self, title: str) -> _Entry:
        self.lookups += 1
        url = f"{self._origin}/v1/titles/{title}"
        try:
            response = await self._client.get(url, timeout=self._timeout)
        except httpx.HTTPError as exc:
            raise _OriginDown(f"{type(exc).__name__}: {exc}") from None
        now = self._clock()
        if response.status_code == 404:
            entry = _Entry(False, f"unknown title {title!r}", now)
            self._cache[title] = entry
            return entry
        if response.status_code != 200:
            raise _OriginDown(f"origin answered {response.status_code}")
        try:
            body = response.json()
            status = body["status"]
        except (ValueError, KeyError, TypeError):
            raise _OriginDown("origin sent an unreadable title record") from None
        if status == "ready":
            files = body.get("files")
            dash = isinstance(files, dict) and addressing.dash_key(title).cache_key in files
            entry = _Entry(True, "", now, dash)
        else:
            entry = _Entry(False, f"title {title!r} is not ready ({status})", now)
        self._cache[title] = entry
        return entry

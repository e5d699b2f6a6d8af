"""Catalog: what the origin says a title's files are (size, sha256), cached briefly in memory."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from cachetools import TTLCache

from streamfleet.addressing import ChunkKey

from .errors import UnknownContent, UpstreamError, UpstreamTimeout
from .flight import SingleFlight

log = logging.getLogger(__name__)

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class FileInfo:
    """What a correct copy of one file is: its exact size and lowercase hex sha256."""

    size: int
    sha256: str


@contextmanager
def origin_errors(what: str) -> Iterator[None]:
    """Turn httpx failures while talking to the origin into UpstreamTimeout / UpstreamError."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise UpstreamTimeout(f"origin timed out during {what}") from exc
    except httpx.HTTPError as exc:
        raise UpstreamError(f"origin unreachable during {what}: {type(exc).__name__}") from exc


class Catalog:
    """Async client of the origin's ``GET /v1/titles/{title}``, with a TTL cache per title.

    Ready titles are cached for ``ttl_s``; unknown titles for ``negative_ttl_s`` (so a flood of
    bad ids does not reach the origin); titles still being ingested are not cached (their file
    list grows). Concurrent lookups of one title share one request. Safe across tasks of one
    event loop.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        origin_url: str,
        ttl_s: float = 60.0,
        negative_ttl_s: float = 5.0,
        max_titles: int = 4096,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._origin = origin_url.rstrip("/")
        # A TTL of 0 disables that cache (the TTLCache objects still need a positive TTL).
        self._cache_known = ttl_s > 0
        self._cache_unknown = negative_ttl_s > 0
        self._known: TTLCache[str, Mapping[str, FileInfo]] = TTLCache(
            max_titles, ttl_s if ttl_s > 0 else 1.0, timer
        )
        self._unknown: TTLCache[str, bool] = TTLCache(
            max_titles, negative_ttl_s if negative_ttl_s > 0 else 1.0, timer
        )
        self._flight: SingleFlight[str, Mapping[str, FileInfo]] = SingleFlight()
        # Requests actually sent to the origin (cache and single-flight misses).
        self.fetches = 0

    def peek(self, key: ChunkKey) -> FileInfo | None:
        """The cached entry for ``key``, or None when nothing is cached; never calls the origin."""
        files = self._known.get(key.title)
        return None if files is None else files.get(key.cache_key)

    async def file_info(self, key: ChunkKey) -> FileInfo:
        """Size and sha256 of ``key``. Raises UnknownContent, UpstreamError or UpstreamTimeout."""
        files = self._known.get(key.title)
        if files is None:
            if key.title in self._unknown:
                raise UnknownContent(f"unknown title {key.title!r}")
            files = await self._flight.do(key.title, lambda: self._fetch(key.title))
        info = files.get(key.cache_key)
        if info is None:
            raise UnknownContent(f"title {key.title!r} has no file {key.cache_key!r}")
        return info

    async def files(self, title: str) -> Mapping[str, FileInfo]:
        """Every file of ``title`` (cache key -> size, sha256), from the cache when it has them.

        Raises UnknownContent, UpstreamError or UpstreamTimeout.
        """
        files = self._known.get(title)
        if files is not None:
            return files
        if title in self._unknown:
            raise UnknownContent(f"unknown title {title!r}")
        return await self._flight.do(title, lambda: self._fetch(title))

    async def close(self) -> None:
        """Cancel lookups in flight (before the HTTP client is closed)."""
        await self._flight.cancel_all()

    async def _fetch(self, title: str) -> Mapping[str, FileInfo]:
        self.fetches += 1
        with origin_errors("catalog lookup"):
            response = await self._client.get(f"{self._origin}/v1/titles/{title}")
        if response.status_code == 404:
            if self._cache_unknown:
                self._unknown[title] = True
            raise UnknownContent(f"unknown title {title!r}")
        if response.status_code != 200:
            raise UpstreamError(f"origin catalog answered {response.status_code} for {title!r}")
        try:
            body = response.json()
        except ValueError as exc:
            raise UpstreamError(f"origin catalog sent invalid JSON for {title!r}") from exc
        files = _parse_files(title, body)
        if self._cache_known and body.get("status") == "ready":
            self._known[title] = files
        return files


def _parse_files(title: str, body: Any) -> dict[str, FileInfo]:
    """The ``files`` map of a title document. Raises UpstreamError when it is malformed."""
    raw = body.get("files") if isinstance(body, dict) else None
    if not isinstance(raw, dict):
        raise UpstreamError(f"origin catalog entry of {title!r} has no files map")
    files: dict[str, FileInfo] = {}
    for cache_key, meta in raw.items():
        size = meta.get("size") if isinstance(meta, dict) else None
        digest = meta.get("sha256") if isinstance(meta, dict) else None
        if (
            not isinstance(size, int)
            or isinstance(size, bool)
            or size < 0
            or not isinstance(digest, str)
            or not _SHA256_RE.match(digest.lower())
        ):
            raise UpstreamError(f"origin catalog entry {cache_key!r} is malformed")
        files[str(cache_key)] = FileInfo(size, digest.lower())
    return files

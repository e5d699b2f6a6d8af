"""The ranked URLs from steering, and fetching one file from them with failover."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import httpx

from streamfleet.requestid import HEADER

from .errors import PlaylistError, SourcesExhausted, SteeringRefused

ORIGIN = "origin"


@dataclass(frozen=True, slots=True)
class Source:
    """One ranked entry: ``url`` is the title's master playlist at that place."""

    url: str
    kind: str  # "appliance" or "origin"
    appliance: str | None = None
    site: str | None = None

    @property
    def label(self) -> str:
        """Name used in reports: the appliance id, or "origin"."""
        return self.appliance if self.kind != ORIGIN and self.appliance else ORIGIN


def sources_from_answer(body: Any) -> list[Source]:
    """The ranked sources of a steering answer. Raises SteeringRefused when it is malformed."""
    try:
        urls = body["urls"]
        out = [Source(str(u["url"]), str(u["kind"]), u.get("appliance"), u.get("site")) for u in urls]
    except (KeyError, TypeError, AttributeError):
        raise SteeringRefused('steering answer has no valid "urls" list') from None
    if not out or not all(s.url.startswith(("http://", "https://")) for s in out):
        raise SteeringRefused("steering answer has no usable URLs")
    return out


@dataclass(slots=True)
class Fetched:
    """One file fetched whole."""

    url: str
    source: Source
    served_by: str
    size: int
    sha256: str
    seconds: float  # from sending the request to the last byte
    # From the first byte of the response to the last: the part that measures bandwidth. A cache
    # miss's wait for the upstream, or a long round trip, is latency, not a slower link.
    transfer_seconds: float
    cache: str | None  # "HIT", "MISS", or None when the server did not say
    body: bytes | None = None  # kept only when asked for (playlists)


@dataclass(slots=True)
class Tally:
    """What the fetches saw, for the report."""

    failovers: int = 0
    hits: int = 0
    misses: int = 0
    bytes: int = 0
    requests_by_appliance: dict[str, int] = field(default_factory=dict)
    bytes_by_appliance: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


class _Failed(Exception):
    pass


class SourceList:
    """Fetches files from the first ranked source that serves them, failing over down the list.

    Every source's URL points at the same title directory (``.../s/<token>/<title>/master.m3u8``),
    so a relative path resolves against each of them. After a failover the working source is
    remembered and asked first from then on; every file still gets one try at every source
    before the player gives up. Not safe for concurrent use.
    """

    MAX_ERRORS = 100

    def __init__(
        self,
        client: httpx.AsyncClient,
        sources: list[Source],
        *,
        clock: Callable[[], float] = time.perf_counter,
        tally: Tally | None = None,
        request_id: str | None = None,
    ) -> None:
        self._client = client
        # Steering's id for this playback: services log it, so one grep follows the viewer.
        self._headers = {HEADER: request_id} if request_id else None
        self.sources = sources
        self._clock = clock
        self.tally = tally or Tally()
        self.current = 0

    async def fetch(
        self, relative: str, *, keep_body: bool = False, check: Callable[[bytes], object] | None = None
    ) -> Fetched:
        """Fetch ``relative`` (e.g. "720p/seg_00003.m4s"); ``check`` may reject a body by raising.

        Raises SourcesExhausted when no source delivers it.
        """
        n = len(self.sources)
        for attempt in range(n):
            index = (self.current + attempt) % n
            source = self.sources[index]
            url = urljoin(source.url, relative)
            try:
                fetched = await self._get(url, source, keep_body or check is not None)
                if check is not None:
                    assert fetched.body is not None
                    check(fetched.body)
            except (httpx.HTTPError, httpx.InvalidURL, _Failed, PlaylistError) as exc:
                self._error(f"GET {relative} from {source.label}: {_describe(exc)}")
                if attempt + 1 < n:
                    self.tally.failovers += 1
                continue
            self.current = index
            self._count(fetched)
            if not keep_body:
                fetched.body = None
            return fetched
        raise SourcesExhausted(f"every source failed for {relative}")

    async def _get(self, url: str, source: Source, keep_body: bool) -> Fetched:
        started = self._clock()
        digest = hashlib.sha256()
        size = 0
        chunks: list[bytes] = []
        async with self._client.stream("GET", url, headers=self._headers) as response:
            first_byte = self._clock()
            if not 200 <= response.status_code < 300:
                raise _Failed(f"HTTP {response.status_code}")
            async for chunk in response.aiter_bytes():
                digest.update(chunk)
                size += len(chunk)
                if keep_body:
                    chunks.append(chunk)
            _check_length(response.headers, size)
            served_by = response.headers.get("x-served-by") or source.label
            cache = response.headers.get("x-cache")
        finished = self._clock()
        if source.kind == ORIGIN:
            served_by = ORIGIN
        cache_state = cache.strip().upper()[:4] if cache else None
        return Fetched(
            url=url,
            source=source,
            served_by=served_by,
            size=size,
            sha256=digest.hexdigest(),
            seconds=finished - started,
            transfer_seconds=finished - first_byte,
            cache=cache_state if cache_state in ("HIT", "MISS") else None,
            body=b"".join(chunks) if keep_body else None,
        )

    def _count(self, fetched: Fetched) -> None:
        t = self.tally
        t.bytes += fetched.size
        by = fetched.served_by
        t.requests_by_appliance[by] = t.requests_by_appliance.get(by, 0) + 1
        t.bytes_by_appliance[by] = t.bytes_by_appliance.get(by, 0) + fetched.size
        if fetched.cache == "HIT":
            t.hits += 1
        elif fetched.cache == "MISS":
            t.misses += 1

    def _error(self, message: str) -> None:
        if len(self.tally.errors) < self.MAX_ERRORS:
            self.tally.errors.append(message)


def _check_length(headers: Mapping[str, str], size: int) -> None:
    declared = headers.get("content-length")
    # With a content-encoding the declared length is of the encoded body; httpx checks that one.
    if declared is not None and declared.isdigit() and not headers.get("content-encoding"):
        if int(declared) != size:
            raise _Failed(f"short body: {size} of {declared} bytes")


def _describe(exc: Exception) -> str:
    text = str(exc)
    if isinstance(exc, _Failed | PlaylistError):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

"""Poster frames of titles: taken from the title's own video at the origin, cached on disk.

A ready title never changes (a re-encode is a new title id), so a poster, once made, is kept
for good. Concurrent requests for the same title make it once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio.to_thread
import httpx

from streamfleet.addressing import TITLE_RE, make_key
from streamfleet.tokens import Keyring, sign

from .errors import NotFound, UpstreamUnavailable
from .frames import poster_jpeg

# Renditions no taller than this are preferred: a poster needs no more, and they are small.
POSTER_MAX_HEIGHT = 480
TOKEN_SECONDS = 300


class PosterMaker:
    """Makes and caches posters. Use from one event loop; decoding runs in a worker thread."""

    def __init__(self, client: httpx.AsyncClient, origin_url: str, keyring: Keyring, cache_dir: Path,
                 width: int, clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._origin = origin_url.rstrip("/")
        self._keyring = keyring
        self._dir = cache_dir
        self._width = width
        self._clock = clock
        self._locks: dict[str, asyncio.Lock] = {}

    def cached(self, title: str) -> Path | None:
        """The cached poster's path, or None when it has not been made yet."""
        path = self._path(title)
        return path if path.is_file() else None

    async def poster(self, title: str) -> Path:
        """The poster file of ``title``, made now if needed.

        Raises NotFound (unknown or not ready title), UpstreamUnavailable (origin unreachable or
        failing) or PosterError (the video did not decode).
        """
        path = self._path(title)
        lock = self._locks.setdefault(title, asyncio.Lock())
        try:
            async with lock:
                if path.is_file():
                    return path
                init, segment = await self._fetch_first_segment(title)
                jpeg = await anyio.to_thread.run_sync(poster_jpeg, init, segment, self._width)
                await anyio.to_thread.run_sync(_write_atomically, path, jpeg)
                return path
        finally:
            if not lock.locked():
                self._locks.pop(title, None)

    def _path(self, title: str) -> Path:
        if not TITLE_RE.match(title):
            raise NotFound(f"invalid title id {title[:80]!r}")
        return self._dir / f"{title}.jpg"

    async def _fetch_first_segment(self, title: str) -> tuple[bytes, bytes]:
        detail = await self._get_json(f"{self._origin}/v1/titles/{title}", title)
        if detail.get("status") != "ready":
            raise NotFound(f"title {title!r} is not ready yet")
        rendition = _pick_rendition(detail.get("renditions") or [])
        if rendition is None:
            raise NotFound(f"title {title!r} has no video rendition")
        token = sign(self._keyring, title, int(self._clock()) + TOKEN_SECONDS)
        init = await self._get_bytes(make_key(title, rendition, "init.mp4").signed_path(token))
        segment = await self._get_bytes(make_key(title, rendition, "seg_00000.m4s").signed_path(token))
        return init, segment

    async def _get_json(self, url: str, title: str) -> dict[str, Any]:
        try:
            response = await self._client.get(url)
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"origin unreachable: {exc}") from None
        if response.status_code == 404:
            raise NotFound(f"unknown title {title!r}")
        if response.status_code != 200:
            raise UpstreamUnavailable(f"origin answered {response.status_code} for {url}")
        body = response.json()
        return body if isinstance(body, dict) else {}

    async def _get_bytes(self, path: str) -> bytes:
        try:
            response = await self._client.get(self._origin + path)
        except httpx.HTTPError as exc:
            raise UpstreamUnavailable(f"origin unreachable: {exc}") from None
        if response.status_code != 200:
            raise UpstreamUnavailable(f"origin answered {response.status_code} for a poster segment")
        return response.content


def _pick_rendition(renditions: list[Any]) -> str | None:
    """The tallest video rendition no taller than POSTER_MAX_HEIGHT, else the shortest one."""
    video = [r for r in renditions if isinstance(r, dict) and int(r.get("height") or 0) > 0]
    if not video:
        return None
    small = [r for r in video if int(r["height"]) <= POSTER_MAX_HEIGHT]
    best = max(small, key=lambda r: int(r["height"])) if small else min(video, key=lambda r: int(r["height"]))
    return str(best["name"])


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()

"""OriginCatalog: the planner's catalog read from the origin's HTTP API (an httpx adapter).

``GET {origin_url}/v1/titles`` lists titles; a ready title's size is the sum of ``files[*].size``
from ``GET {origin_url}/v1/titles/{id}``. A ready title never changes (a re-encode is a new title),
so sizes are cached for the life of the process and each planning run fetches only new titles.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx

from .catalog import CatalogTitle
from .errors import CatalogUnavailable

log = logging.getLogger(__name__)

READY = "ready"


class OriginCatalog:
    """Implements :class:`~control_plane.catalog.CatalogSource`. Use from one event loop."""

    def __init__(self, origin_url: str, client: httpx.AsyncClient, *, concurrency: int = 16) -> None:
        self._base = origin_url.rstrip("/")
        self._client = client
        self._limit = asyncio.Semaphore(concurrency)
        self._sizes: dict[str, int] = {}

    async def titles(self) -> list[CatalogTitle]:
        """Every ready title with its size. Raises CatalogUnavailable naming what failed."""
        listing = await self._get_json("/v1/titles")
        summaries = listing.get("titles") if isinstance(listing, dict) else None
        if not isinstance(summaries, list):
            raise CatalogUnavailable(f"{self._base}/v1/titles: expected {{\"titles\": [...]}}")
        ready = [s for s in summaries if isinstance(s, dict) and s.get("status") == READY
                 and isinstance(s.get("id"), str)]
        missing = [s["id"] for s in ready if s["id"] not in self._sizes]
        await asyncio.gather(*(self._fetch_size(title) for title in missing))
        out = []
        for summary in ready:
            size = self._sizes.get(summary["id"])
            if size is None:  # vanished between the listing and its detail
                continue
            out.append(CatalogTitle(
                id=summary["id"], bytes=size, released_unix_s=_released(summary),
                new=summary.get("new") is True,
            ))
        return out

    async def _fetch_size(self, title: str) -> None:
        async with self._limit:
            detail = await self._get_json(f"/v1/titles/{title}", missing_ok=True)
        if detail is None:
            return
        files = detail.get("files") if isinstance(detail, dict) else None
        if not isinstance(files, dict):
            raise CatalogUnavailable(f"{self._base}/v1/titles/{title}: no files map")
        try:
            self._sizes[title] = sum(int(f["size"]) for f in files.values())
        except (KeyError, TypeError, ValueError):
            raise CatalogUnavailable(f"{self._base}/v1/titles/{title}: a file has no valid size") from None

    async def _get_json(self, path: str, *, missing_ok: bool = False) -> Any:
        url = self._base + path
        try:
            reply = await self._client.get(url)
        except httpx.HTTPError as exc:
            raise CatalogUnavailable(f"{url}: {type(exc).__name__}: {exc}") from None
        if reply.status_code == 404 and missing_ok:
            return None
        if reply.status_code != 200:
            raise CatalogUnavailable(f"{url}: HTTP {reply.status_code}")
        try:
            return reply.json()
        except ValueError:
            raise CatalogUnavailable(f"{url}: not JSON") from None


def _released(summary: dict[str, Any]) -> float | None:
    for key in ("released", "created"):
        value = summary.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from steering.catalog import TitleCatalog
from steering.errors import CatalogUnavailable, UnknownTitle

pytestmark = pytest.mark.anyio


class Origin:
    """A stand-in origin catalog behind httpx.MockTransport."""

    def __init__(self) -> None:
        self.titles: dict[str, str] = {"ready-one": "ready", "busy": "encoding", "with-dash": "ready"}
        self.down = False
        self.requests: list[str] = []
        self.delay = 0.0

    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request.url.path)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        title = request.url.path.rsplit("/", 1)[-1]
        if title not in self.titles:
            return httpx.Response(404, json={"error": {"status": 404, "message": "unknown"}})
        files = {f"{title}/manifest.mpd": {"size": 1, "sha256": "0" * 64}} if title == "with-dash" else {}
        return httpx.Response(200, json={"id": title, "status": self.titles[title], "files": files})


def make(origin: Origin, now: list[float]) -> tuple[TitleCatalog, httpx.AsyncClient]:
    client = httpx.AsyncClient(transport=httpx.MockTransport(origin.handle))
    clock: Callable[[], float] = lambda: now[0]  # noqa: E731
    catalog = TitleCatalog(client, "http://origin/", ttl=30, negative_ttl=2, stale=600, clock=clock)
    return catalog, client


async def test_ready_title_is_cached_for_the_ttl() -> None:
    origin, now = Origin(), [0.0]
    catalog, client = make(origin, now)
    async with client:
        await catalog.require_ready("ready-one")
        now[0] = 29
        await catalog.require_ready("ready-one")
        assert origin.requests == ["/v1/titles/ready-one"]
        now[0] = 31
        await catalog.require_ready("ready-one")
        assert len(origin.requests) == 2


async def test_unknown_and_unready_titles_are_404_and_cached_briefly() -> None:
    origin, now = Origin(), [0.0]
    catalog, client = make(origin, now)
    async with client:
        with pytest.raises(UnknownTitle, match="unknown title"):
            await catalog.require_ready("nope")
        with pytest.raises(UnknownTitle, match="not ready"):
            await catalog.require_ready("busy")
        with pytest.raises(UnknownTitle):
            await catalog.require_ready("nope")
        assert len(origin.requests) == 2
        origin.titles["nope"] = "ready"
        now[0] = 2.5
        await catalog.require_ready("nope")
        assert len(origin.requests) == 3


async def test_origin_down_answers_from_stale_cache_else_unavailable() -> None:
    origin, now = Origin(), [0.0]
    catalog, client = make(origin, now)
    async with client:
        await catalog.require_ready("ready-one")
        origin.down = True
        now[0] = 100  # expired, but younger than stale
        await catalog.require_ready("ready-one")
        assert catalog.stale_answers == 1
        with pytest.raises(CatalogUnavailable):
            await catalog.require_ready("never-seen")
        now[0] = 1000  # older than stale: no longer believed
        with pytest.raises(CatalogUnavailable):
            await catalog.require_ready("ready-one")


async def test_origin_errors_and_garbage_count_as_unreachable() -> None:
    async def broken(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("garbage"):
            return httpx.Response(200, content=b"<html>")
        return httpx.Response(502)

    async with httpx.AsyncClient(transport=httpx.MockTransport(broken)) as client:
        catalog = TitleCatalog(client, "http://origin")
        for title in ("garbage", "bad-gateway"):
            with pytest.raises(CatalogUnavailable):
                await catalog.require_ready(title)


async def test_concurrent_lookups_of_one_title_share_one_request() -> None:
    origin, now = Origin(), [0.0]
    origin.delay = 0.05
    catalog, client = make(origin, now)
    async with client:
        await asyncio.gather(*(catalog.require_ready("ready-one") for _ in range(20)))
        assert origin.requests == ["/v1/titles/ready-one"]
        results = await asyncio.gather(
            *(catalog.require_ready("nope-2") for _ in range(5)), return_exceptions=True
        )
        assert all(isinstance(r, UnknownTitle) for r in results)
        assert origin.requests.count("/v1/titles/nope-2") == 1


async def test_ready_titles_tell_whether_they_have_a_dash_manifest() -> None:
    origin, now = Origin(), [0.0]
    catalog, client = make(origin, now)
    async with client:
        assert (await catalog.require_ready("with-dash")).dash is True
        assert (await catalog.require_ready("ready-one")).dash is False
        now[0] = 10  # from the cache, the same answer
        assert (await catalog.require_ready("with-dash")).dash is True
    assert origin.requests == ["/v1/titles/with-dash", "/v1/titles/ready-one"]

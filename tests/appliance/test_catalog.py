"""Catalog: cached title documents, negative caching, domain errors for unknown content."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import Counter
from collections.abc import Awaitable, Callable

import httpx
import pytest

from appliance.catalog import Catalog, FileInfo
from appliance.errors import UnknownContent, UpstreamError, UpstreamTimeout
from streamfleet.addressing import make_key, master_key

DOC = {
    "id": "clip",
    "status": "ready",
    "files": {"clip/master.m3u8": {"size": 3, "sha256": hashlib.sha256(b"abc").hexdigest()}},
}


class Origin:
    def __init__(self, docs: dict[str, object]) -> None:
        self.docs = docs
        self.hits: Counter[str] = Counter()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        title = request.url.path.rsplit("/", 1)[-1]
        self.hits[title] += 1
        doc = self.docs.get(title)
        if doc is None:
            return httpx.Response(404, json={"error": {"status": 404, "message": "unknown"}})
        if isinstance(doc, int):
            return httpx.Response(doc)
        return httpx.Response(200, content=json.dumps(doc).encode())


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run(origin: Origin, clock: Clock, body: Callable[[Catalog], Awaitable[None]]) -> None:
    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(origin)) as client:
            await body(Catalog(client, "http://origin", ttl_s=60, negative_ttl_s=5, timer=clock))

    asyncio.run(main())


def test_ready_title_is_cached_until_ttl_and_lookups_coalesce() -> None:
    origin, clock = Origin({"clip": DOC}), Clock()

    async def body(catalog: Catalog) -> None:
        assert catalog.peek(master_key("clip")) is None
        infos = await asyncio.gather(*(catalog.file_info(master_key("clip")) for _ in range(20)))
        assert set(infos) == {FileInfo(3, hashlib.sha256(b"abc").hexdigest())}
        assert origin.hits["clip"] == 1
        assert catalog.peek(master_key("clip")) == infos[0]
        clock.now = 61
        await catalog.file_info(master_key("clip"))
        assert origin.hits["clip"] == 2

    run(origin, clock, body)


def test_unknown_title_and_unknown_file_are_domain_errors_and_unknown_titles_cached_briefly() -> None:
    origin, clock = Origin({"clip": DOC}), Clock()

    async def body(catalog: Catalog) -> None:
        for _ in range(3):
            with pytest.raises(UnknownContent):
                await catalog.file_info(master_key("nope"))
        assert origin.hits["nope"] == 1
        clock.now = 6
        with pytest.raises(UnknownContent):
            await catalog.file_info(master_key("nope"))
        assert origin.hits["nope"] == 2
        with pytest.raises(UnknownContent):
            await catalog.file_info(make_key("clip", "480p", "init.mp4"))

    run(origin, clock, body)


def test_titles_still_ingesting_are_not_cached() -> None:
    origin, clock = Origin({"clip": {**DOC, "status": "processing"}}), Clock()

    async def body(catalog: Catalog) -> None:
        await catalog.file_info(master_key("clip"))
        await catalog.file_info(master_key("clip"))
        assert origin.hits["clip"] == 2

    run(origin, clock, body)


@pytest.mark.parametrize(
    "doc",
    [500, {"files": {"clip/master.m3u8": {"size": "3", "sha256": "x"}}}, {"id": "clip"}],
    ids=["status-500", "bad-entry", "no-files"],
)
def test_origin_failures_and_malformed_documents_are_upstream_errors(doc: object) -> None:
    origin, clock = Origin({"clip": doc}), Clock()

    async def body(catalog: Catalog) -> None:
        with pytest.raises(UpstreamError):
            await catalog.file_info(master_key("clip"))

    run(origin, clock, body)


def test_transport_timeout_is_upstream_timeout() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(timeout)) as client:
            with pytest.raises(UpstreamTimeout):
                await Catalog(client, "http://origin").file_info(master_key("clip"))

    asyncio.run(main())

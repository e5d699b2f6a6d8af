"""OriginCatalog: ready titles and their sizes from the origin's catalog API, cached, with clear errors."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from control_plane.catalog import CatalogTitle
from control_plane.errors import CatalogUnavailable
from control_plane.origin_catalog import OriginCatalog

from .standin_origin import StandInCatalog, build_origin_app


def fetch_twice(stand_in: StandInCatalog) -> list[list[CatalogTitle]]:
    async def go() -> list[list[CatalogTitle]]:
        transport = httpx.ASGITransport(app=build_origin_app(stand_in))
        async with httpx.AsyncClient(transport=transport) as client:
            catalog = OriginCatalog("http://origin.test/", client)
            first = await catalog.titles()
            stand_in.add("late", [5])
            return [first, await catalog.titles()]

    return asyncio.run(go())


def test_ready_titles_with_summed_sizes_and_each_detail_fetched_once() -> None:
    stand_in = StandInCatalog()
    stand_in.add("film-a", [100, 200, 300], created=1000.0)
    stand_in.add("film-b", [7])
    stand_in.add("encoding", [1], status="ingesting")
    first, second = fetch_twice(stand_in)
    assert first == [CatalogTitle("film-a", 600, 1000.0), CatalogTitle("film-b", 7, 1.7e9)]
    assert [t.id for t in second] == ["film-a", "film-b", "late"]
    details = [p for p in stand_in.requests if p != "/v1/titles"]
    assert sorted(details) == ["/v1/titles/film-a", "/v1/titles/film-b", "/v1/titles/late"]


def test_a_title_gone_between_listing_and_detail_is_skipped() -> None:
    def origin(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/titles":
            return httpx.Response(200, json={"titles": [{"id": "ghost", "status": "ready"},
                                                        {"id": "real", "status": "ready", "new": True}]})
        if request.url.path == "/v1/titles/real":
            return httpx.Response(200, json={"files": {"real/master.m3u8": {"size": 9, "sha256": ""}}})
        return httpx.Response(404, json={"error": {"status": 404, "message": "gone"}})

    async def go() -> list[CatalogTitle]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(origin)) as client:
            return await OriginCatalog("http://origin.test", client).titles()

    assert asyncio.run(go()) == [CatalogTitle("real", 9, None, new=True)]


def test_unreachable_or_broken_origin_raises_catalog_unavailable() -> None:
    async def with_transport(handler: httpx.MockTransport) -> None:
        async with httpx.AsyncClient(transport=handler) as client:
            await OriginCatalog("http://origin.test", client).titles()

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    cases = [
        (refuse, "ConnectError"),
        (lambda r: httpx.Response(500), "HTTP 500"),
        (lambda r: httpx.Response(200, text="<html>"), "not JSON"),
        (lambda r: httpx.Response(200, json={"items": []}), "expected"),
        (lambda r: httpx.Response(200, json={"titles": [{"id": "x", "status": "ready"}]})
         if r.url.path == "/v1/titles" else httpx.Response(200, json={"files": {"k": {"size": "big"}}}),
         "no valid size"),
    ]
    for handler, message in cases:
        with pytest.raises(CatalogUnavailable, match=message):
            asyncio.run(with_transport(httpx.MockTransport(handler)))

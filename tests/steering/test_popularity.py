from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from steering.popularity import PopularityReporter

pytestmark = pytest.mark.anyio


class ControlPlane:
    def __init__(self) -> None:
        self.status = 204
        self.down = False
        self.bodies: list[dict[str, object]] = []
        self.auth: list[str | None] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        assert (request.method, request.url.path) == ("POST", "/v1/popularity")
        if self.down:
            raise httpx.ConnectError("refused", request=request)
        self.auth.append(request.headers.get("authorization"))
        if 200 <= self.status < 300:
            self.bodies.append(json.loads(request.content))
        return httpx.Response(self.status)


def reporter(cp: ControlPlane, **kw: object) -> tuple[PopularityReporter, httpx.AsyncClient, list[str]]:
    client = httpx.AsyncClient(transport=httpx.MockTransport(cp.handle))
    results: list[str] = []
    rep = PopularityReporter(
        client,
        "http://cp:8090/",
        on_result=results.append,
        **kw,  # type: ignore[arg-type]
    )
    return rep, client, results


async def test_batches_are_sent_per_site_and_kept_while_the_control_plane_is_away() -> None:
    cp = ControlPlane()
    rep, client, results = reporter(cp, token="s3cret")
    async with client:
        for site, title in [("east", "a"), ("east", "a"), ("east", "b"), ("west", "a")]:
            rep.count(site, title)
        cp.down = True
        assert not await rep.flush()
        assert rep.pending_titles == 3 and rep.failures == 2
        rep.count("east", "a")
        cp.down, cp.status = False, 503
        assert not await rep.flush()
        cp.status = 200
        assert await rep.flush()
        assert rep.pending_titles == 0 and rep.sent == 2
        assert sorted(cp.bodies, key=lambda b: str(b["site"])) == [
            {"site": "east", "starts": {"a": 3, "b": 1}},
            {"site": "west", "starts": {"a": 1}},
        ]
        assert set(cp.auth) == {"Bearer s3cret"}
        assert results.count("kept") == 4 and results.count("sent") == 2
        assert await rep.flush()  # nothing pending: nothing sent
        assert rep.sent == 2


async def test_pending_titles_are_bounded_and_refused_batches_dropped() -> None:
    cp = ControlPlane()
    rep, client, results = reporter(cp, max_titles=2)
    async with client:
        for title in ("a", "b", "c", "a"):
            rep.count("east", title)
        assert rep.pending_titles == 2 and rep.dropped == 1
        cp.status = 400
        assert await rep.flush()
        assert rep.pending_titles == 0 and rep.rejected == 1 and results == ["refused"]


async def test_background_loop_reports_and_flushes_on_stop() -> None:
    cp = ControlPlane()
    rep, client, _ = reporter(cp, interval=0.05)
    async with client:
        rep.start()
        rep.count("east", "a")
        for _ in range(200):
            if cp.bodies:
                break
            await asyncio.sleep(0.01)
        assert cp.bodies == [{"site": "east", "starts": {"a": 1}}]
        rep.count("east", "b")
        await rep.stop()
        assert cp.bodies[-1] == {"site": "east", "starts": {"b": 1}}
        await rep.stop()


async def test_interval_zero_never_starts() -> None:
    cp = ControlPlane()
    rep, client, _ = reporter(cp, interval=0)
    async with client:
        rep.start()
        rep.count("east", "a")
        await rep.stop()
    assert cp.bodies == [] and rep.pending_titles == 1

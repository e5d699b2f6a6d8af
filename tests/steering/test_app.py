from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from steering.app import build_app
from steering.config import SteeringConfig
from steering.fleet import FleetView, StaticFleet
from streamfleet import addressing, tokens

from .fakes import two_sites

pytestmark = pytest.mark.anyio

NOW = 1_700_000_000.0
TITLES = {"film": "ready", "series": "ready", "half-done": "encoding"}
# Titles whose files include a DASH manifest ("series" was ingested before DASH).
DASH_TITLES = {"film"}


class Origin:
    def __init__(self) -> None:
        self.down = False
        self.lookups = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.lookups += 1
        if self.down:
            raise httpx.ConnectError("refused", request=request)
        title = request.url.path.rsplit("/", 1)[-1]
        if request.url.path.startswith("/v1/titles/") and title in TITLES:
            files = {f"{title}/master.m3u8": {"size": 1, "sha256": "0" * 64}}
            if title in DASH_TITLES:
                files[f"{title}/manifest.mpd"] = {"size": 1, "sha256": "1" * 64}
            return httpx.Response(200, json={"id": title, "status": TITLES[title], "files": files})
        return httpx.Response(404, json={"error": {"status": 404, "message": "no such title"}})


@pytest.fixture
def origin() -> Iterator[Origin]:
    yield Origin()


def config(**overrides: Any) -> SteeringConfig:
    # Sessions have tests of their own below; popularity reports are off unless a test wants them.
    base = SteeringConfig(
        default_site="west",
        origin_url="http://origin.internal:8000",
        require_session=False,
        popularity_interval_seconds=0,
    )
    return dataclasses.replace(base, **overrides)


@asynccontextmanager
async def serving(app: Starlette, peer: str = "10.1.2.3") -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app, client=(peer, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://steering") as client:
            yield client


def make_app(origin: Origin, cfg: SteeringConfig | None = None, view: FleetView | None = None) -> Starlette:
    return build_app(
        cfg or config(),
        fleet=StaticFleet(view or two_sites()),
        origin_transport=httpx.MockTransport(origin.handle),
        clock=lambda: NOW,
    )


async def test_playback_answers_ranked_signed_urls(origin: Origin) -> None:
    cfg = config(origin_public_url="https://origin.example.com/")
    async with serving(make_app(origin, cfg)) as client:
        response = await client.post("/v1/playback", json={"title": "film"})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert (body["title"], body["site"], body["site_reason"]) == ("film", "east", "prefix")
    assert body["expires_at"] == int(NOW) + cfg.tokens.ttl_seconds
    urls = body["urls"]
    assert [u["kind"] for u in urls] == ["appliance"] * 4 + ["origin"]
    assert [u["site"] for u in urls[:3]] == ["east"] * 3
    assert urls[3]["reason"] == "other-site"
    assert urls[-1] == {
        "url": urls[-1]["url"],
        "dash_url": urls[-1]["dash_url"],
        "kind": "origin",
        "appliance": None,
        "site": None,
        "reason": "origin",
    }
    assert urls[-1]["url"].startswith("https://origin.example.com/s/")
    keyring = cfg.tokens.keyring()
    for entry in urls:
        url = httpx.URL(entry["url"])
        token, key = addressing.parse_signed_path(url.path)
        assert key == addressing.master_key("film")
        tokens.verify(keyring, token, "film", now=NOW)
        with pytest.raises(tokens.TokenError):
            tokens.verify(keyring, token, "other-film", now=NOW)
        # The DASH manifest at the same place, under the same token.
        dash = httpx.URL(entry["dash_url"])
        assert dash.copy_with(path="/") == url.copy_with(path="/")
        assert addressing.parse_signed_path(dash.path) == (token, addressing.dash_key("film"))
    appliance_bases = {str(httpx.URL(u["url"]).copy_with(path="/")) for u in urls[:-1]}
    assert len(appliance_bases) == 4


async def test_titles_without_a_dash_manifest_get_null_dash_urls(origin: Origin) -> None:
    async with serving(make_app(origin)) as client:
        urls = (await client.post("/v1/playback", json={"title": "series"})).json()["urls"]
    assert urls and all(u["dash_url"] is None for u in urls)
    assert all(u["url"].endswith("/series/master.m3u8") for u in urls)


async def test_origin_public_url_defaults_to_origin_url(origin: Origin) -> None:
    async with serving(make_app(origin)) as client:
        urls = (await client.post("/v1/playback", json={"title": "film"})).json()["urls"]
    assert urls[-1]["url"].startswith("http://origin.internal:8000/s/dev.")


async def test_forwarded_for_is_ignored_from_untrusted_peers(origin: Origin) -> None:
    async with serving(make_app(origin), peer="127.0.0.1") as client:
        body = (
            await client.post("/v1/playback", json={"title": "film"}, headers={"X-Forwarded-For": "10.1.2.3"})
        ).json()
    # 127.0.0.0/8 is advertised by west; the forged header must not move the client to east.
    assert (body["site"], body["site_reason"]) == ("west", "prefix")


async def test_forwarded_for_is_honoured_from_trusted_proxies(origin: Origin) -> None:
    app = make_app(origin, config(trusted_proxies=("127.0.0.0/8", "192.168.0.0/16")))
    async with serving(app, peer="127.0.0.1") as client:
        forwarded = {"X-Forwarded-For": "10.2.0.1, 10.1.2.3, 192.168.1.1"}
        body = (await client.post("/v1/playback", json={"title": "film"}, headers=forwarded)).json()
        assert body["site"] == "east"
        plain = (await client.post("/v1/playback", json={"title": "film"})).json()
        assert plain["site"] == "west"


async def test_unmatched_client_gets_the_default_site(origin: Origin) -> None:
    async with serving(make_app(origin), peer="203.0.113.9") as client:
        body = (await client.post("/v1/playback", json={"title": "film"})).json()
    assert (body["site"], body["site_reason"]) == ("west", "default")


async def test_error_bodies(origin: Origin) -> None:
    async with serving(make_app(origin, config(max_body_bytes=64))) as client:
        cases: list[tuple[int, httpx.Response]] = [
            (400, await client.post("/v1/playback", content=b"{not json")),
            (400, await client.post("/v1/playback", content=b"\xff\xfe")),
            (400, await client.post("/v1/playback", json=["film"])),
            (400, await client.post("/v1/playback", json={"name": "film"})),
            (400, await client.post("/v1/playback", json={"title": 5})),
            (400, await client.post("/v1/playback", json={"title": "../etc/passwd"})),
            (404, await client.post("/v1/playback", json={"title": "no-such-film"})),
            (404, await client.post("/v1/playback", json={"title": "half-done"})),
            (413, await client.post("/v1/playback", json={"title": "x" * 100})),
            (413, await client.post("/v1/playback", content=_chunks(b"{" + b" " * 100 + b"}"))),
            (405, await client.get("/v1/playback")),
            (404, await client.get("/nowhere")),
        ]
        for status, response in cases:
            assert response.status_code == status, response.text
            error = response.json()["error"]
            assert error["status"] == status and error["message"]
        assert (await client.post("/v1/playback", json={"title": "film"})).status_code == 200
        origin.down = True
        unavailable = await client.post("/v1/playback", json={"title": "brand-new"})
        assert unavailable.status_code == 503 and unavailable.json()["error"]["status"] == 503
        # A title looked up before keeps playing while the origin is away.
        assert (await client.post("/v1/playback", json={"title": "film"})).status_code == 200


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), 16):
        yield data[i : i + 16]


async def test_healthz_reports_fleet_version_and_control_plane_state(origin: Origin) -> None:
    async with serving(make_app(origin)) as client:
        health = await client.get("/healthz")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok" and body["control_plane"] == "connected"
    assert body["fleet_version"] == 7 and body["healthy_appliances"] == 6
    assert body["fleet_state_age_s"] >= 0

    app = build_app(
        config(),
        fleet=StaticFleet(FleetView.empty(), connected=False),
        origin_transport=httpx.MockTransport(origin.handle),
    )
    async with serving(app) as client:
        down = await client.get("/healthz")
        answer = await client.post("/v1/playback", json={"title": "film"})
    assert down.status_code == 200 and down.json()["control_plane"] == "unreachable"
    # Without any fleet state, playback still works: origin only.
    assert [u["kind"] for u in answer.json()["urls"]] == ["origin"]


async def test_metrics_count_requests_per_app(origin: Origin) -> None:
    first, second = make_app(origin), make_app(origin)
    async with serving(first) as client:
        await client.post("/v1/playback", json={"title": "film"})
        await client.post("/v1/playback", json={"title": "film"})
        await client.post("/v1/playback", json={"title": "no-such-film"})
        text = (await client.get("/metrics")).text
    assert 'steering_playback_requests_total{site="east",site_reason="prefix",status="200"} 2.0' in text
    assert 'steering_playback_requests_total{site="",site_reason="",status="404"} 1.0' in text
    assert "steering_fleet_version 7.0" in text
    assert "steering_control_plane_connected 1.0" in text
    assert "steering_fleet_state_age_seconds" in text
    async with serving(second) as client:
        other = (await client.get("/metrics")).text
    assert "steering_playback_requests_total{" not in other

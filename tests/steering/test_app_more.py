"""The app's sessions, miss metric, popularity reports and coverage zones, end to end in-process."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from steering.app import build_app
from steering.fleet import FleetView, Health, StaticFleet
from streamfleet.sessions import SessionSettings, issue_session

from .fakes import appliance, two_sites
from .test_app import NOW, Origin, config, serving

pytestmark = pytest.mark.anyio

KEYS = SessionSettings(keys={"s1": "steering-session-key-000"}, active="s1")


def viewer(expires: float = NOW + 600) -> str:
    return issue_session(KEYS.keyring(), "u-7", "viewer", 0, int(expires))


def app_with(origin: Origin, view: FleetView | None = None, **overrides: object) -> object:
    return build_app(
        config(**overrides),
        fleet=StaticFleet(view or two_sites()),
        origin_transport=httpx.MockTransport(origin.handle),
        clock=lambda: NOW,
    )


async def test_playback_requires_a_valid_session_by_default() -> None:
    origin = Origin()
    app = app_with(origin, require_session=True, sessions=KEYS)
    async with serving(app) as client:  # type: ignore[arg-type]
        film = {"title": "film"}
        anonymous = await client.post("/v1/playback", json=film)
        expired = await client.post(
            "/v1/playback", json=film, headers={"Authorization": f"Bearer {viewer(NOW - 60)}"}
        )
        forged = await client.post("/v1/playback", json=film, headers={"Authorization": "Bearer s1.e30.AAAA"})
        for response in (anonymous, expired, forged):
            assert response.status_code == 401
            assert response.json()["error"]["status"] == 401
            assert response.headers["www-authenticate"].startswith("Bearer")
        bearer = await client.post("/v1/playback", json=film, headers={"Authorization": f"Bearer {viewer()}"})
        cookie = await client.post("/v1/playback", json=film, headers={"Cookie": f"sf_session={viewer()}"})
        assert bearer.status_code == 200 and cookie.status_code == 200
        text = (await client.get("/metrics")).text
    assert 'steering_playback_requests_total{site="",site_reason="",status="401"} 3.0' in text
    # A refused viewer never costs an origin lookup.
    assert origin.lookups == 1


async def test_misses_are_counted_by_site_and_kind() -> None:
    def view(best_health: Health) -> FleetView:
        return FleetView(
            3,
            [
                appliance(best, "west", prefixes=("10.2.0.0/16",), health=best_health, titles=("film",)),
                appliance(other, "west", prefixes=("10.2.0.0/16",)),
            ],
        )

    probe = FleetView(1, [appliance("w1", "west"), appliance("w2", "west")]).placement_ignoring_health("west")
    assert probe is not None
    best, other = probe.rank("film")
    origin = Origin()
    async with serving(app_with(origin, view(Health.HEALTHY)), peer="10.2.0.9") as client:  # type: ignore[arg-type]
        await client.post("/v1/playback", json={"title": "film"})
        text = (await client.get("/metrics")).text
    assert "streamfleet_steering_misses_total{" not in text

    async with serving(app_with(origin, view(Health.DOWN)), peer="10.2.0.9") as client:  # type: ignore[arg-type]
        for title in ("film", "film", "film", "series", "series"):
            body = (await client.post("/v1/playback", json={"title": title})).json()
            assert body["urls"][0]["appliance"] == other
        text = (await client.get("/metrics")).text
    assert 'streamfleet_steering_misses_total{kind="health",site="west"} 3.0' in text
    assert 'streamfleet_steering_misses_total{kind="content",site="west"} 2.0' in text


async def test_playback_starts_are_reported_to_the_control_plane() -> None:
    received: list[dict[str, object]] = []

    def control_plane(request: httpx.Request) -> httpx.Response:
        assert request.url == "http://cp.internal:8090/v1/popularity"
        received.append(json.loads(request.content))
        return httpx.Response(204)

    origin = Origin()
    app = build_app(
        config(popularity_interval_seconds=60, control_plane_http="http://cp.internal:8090"),
        fleet=StaticFleet(two_sites()),
        origin_transport=httpx.MockTransport(origin.handle),
        control_plane_transport=httpx.MockTransport(control_plane),
        clock=lambda: NOW,
    )
    async with serving(app, peer="10.1.2.3") as client:
        for _ in range(2):
            await client.post("/v1/playback", json={"title": "film"})
        await client.post("/v1/playback", json={"title": "no-such-film"})
        health = (await client.get("/healthz")).json()
        assert health["popularity_pending_titles"] == 1
    # The last batch goes out when the app stops.
    assert received == [{"site": "east", "starts": {"film": 2}}]


async def test_coverage_file_localizes_clients_no_prefix_matches(tmp_path: Path) -> None:
    zones = tmp_path / "zones.json"
    zones.write_text(json.dumps({"zones": [{"cidr": "198.51.100.0/24", "site": "north"}]}))
    origin = Origin()
    app = app_with(origin, coverage_file=str(zones))
    async with serving(app, peer="198.51.100.20") as client:  # type: ignore[arg-type]
        body = (await client.post("/v1/playback", json={"title": "film"})).json()
        health = (await client.get("/healthz")).json()
        metrics = (await client.get("/metrics")).text
    assert (body["site"], body["site_reason"]) == ("north", "coverage")
    assert body["urls"][0]["appliance"] == "north-1"
    assert health["coverage_zones"] == 1 and health["coverage_error"] is None
    assert "steering_coverage_zones 1.0" in metrics

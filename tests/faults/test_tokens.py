"""Bad tokens on the appliance: every one a 403 that touches neither the disk nor the upstream.
Key rotation: a fleet with two keys during a rollover accepts both, then only the new one."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import httpx
import pytest

from player.session import play
from streamfleet import tokens
from streamfleet.addressing import ChunkKey, make_key, master_key, segment_name

from .conftest import TITLE as FLEET_TITLE
from .conftest import catalog_of, running_fleet
from .procs import SoloAppliance
from .standins import StandInOrigin, make_title, sign

pytestmark = pytest.mark.e2e

TITLE, OTHER = "guarded", "another-title"
FILES = make_title(TITLE, segments=2)
KEY = make_key(TITLE, "480p", segment_name(0))
OTHER_RING = tokens.Keyring.from_strings({"dev": "not-the-fleet-key-0123456789"}, "dev")
UNKNOWN_KID = tokens.Keyring.from_strings({"k9": "streamfleet-development-key-change-me"}, "k9")


def bad_tokens() -> dict[str, str]:
    good = sign(TITLE)
    kid, expiry, sig = good.split(".")
    return {
        "forged signature": f"{kid}.{expiry}.{'A' * 43}",
        "signed with another key": tokens.sign(OTHER_RING, TITLE, int(time.time()) + 600),
        "expired": sign(TITLE, ttl=-3600),
        "for another title": sign(OTHER),
        "truncated signature": good[:-1],
        "truncated to two parts": f"{kid}.{expiry}",
        "unknown key id": tokens.sign(UNKNOWN_KID, TITLE, int(time.time()) + 600),
        "expiry changed": f"{kid}.{int(expiry) + 86400}.{sig}",
        "non-numeric expiry": f"{kid}.1e99.{sig}",
        "huge expiry": f"{kid}.{'9' * 40}.{sig}",
        "extra part": f"{good}.x",
        "empty parts": "dev..",
        "key id with dots": f"a.b.{expiry}.{sig}",
    }


def raw_get(port: int, path: str, extra: bytes = b"") -> bytes:
    """One request over a bare socket (no client-side URL normalisation)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        head = b"GET " + path.encode() + b" HTTP/1.1\r\nhost: x\r\nconnection: close\r\n"
        sock.sendall(head + extra + b"\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def counters(appliance: SoloAppliance) -> dict[str, float]:
    return {r: appliance.metric("streamfleet_appliance_requests_total", result=r)
            for r in ("hit", "miss", "peer_fill", "error")}  # fmt: skip


def test_bad_tokens_are_403_and_touch_neither_disk_nor_upstream(tmp_path: Path) -> None:
    with StandInOrigin({TITLE: FILES, OTHER: make_title(OTHER)}) as origin, SoloAppliance(
        tmp_path, origin.url
    ) as appliance:
        bad = bad_tokens()
        keys: list[ChunkKey] = [KEY, master_key(TITLE), make_key(TITLE, "480p", "index.m3u8")]
        sent = 0
        for name, token in bad.items():
            for key in keys:
                for method in ("GET", "HEAD"):
                    response = httpx.request(method, appliance.url + key.signed_path(token), timeout=5,
                                             headers={"range": "bytes=0-10"} if key is KEY else {})
                    assert response.status_code == 403, (name, method, key.cache_key)
                    if method == "GET":
                        assert response.json()["error"]["status"] == 403
                    sent += 1
            # Through the ASGI path too (percent-encoding makes the fast path hand it over), and
            # dressed as a peer's fill request.
            assert b" 403 " in raw_get(appliance.port, KEY.signed_path(token).replace("seg_", "se%67_"))[:20]
            assert b" 403 " in raw_get(appliance.port, KEY.signed_path(token),
                                       b"x-streamfleet-peer-fill: east-2\r\n")[:20]
            sent += 2
        assert origin.total_requests == 0, "a bad token reached the upstream"
        assert list((appliance.data_dir / "chunks").rglob("*")) == [] and appliance.tmp_files() == []
        assert appliance.metric("streamfleet_appliance_token_rejections_total") == sent
        assert counters(appliance) == {"hit": 0, "miss": 0, "peer_fill": 0, "error": 0}

        # A stored chunk is not served for a bad token either.
        assert appliance.get(KEY, sign(TITLE)).status_code == 200
        stored = counters(appliance)
        for name, token in bad.items():
            assert appliance.get(KEY, token).status_code == 403, name
        assert counters(appliance) == stored
        assert sum(origin.chunk_requests.values()) == 1


def test_key_rotation_two_keys_during_the_rollover(tmp_path: Path, clip: Path) -> None:
    old, new = "streamfleet-key-2025-old-0123456789", "streamfleet-key-2026-new-0123456789"
    both = {"k2025": old, "k2026": new}
    extra = {
        # Rollover under way: everyone verifies both keys; steering already signs with the new one,
        # appliances still sign their upstream requests with the old one.
        "steering": {"tokens": {"keys": both, "active": "k2026"}},
        "appliance": {"tokens": {"keys": both, "active": "k2025"}},
        "origin": {"tokens": {"keys": both, "active": "k2025"}},
    }
    with running_fleet(tmp_path, clip, extra=extra) as fleet:
        report = asyncio.run(play(fleet.steering_url, FLEET_TITLE, session=fleet.viewer_session(),
                                  catalog=catalog_of(fleet)))
        assert report.ok and report.bytes_verified is True, report.errors
        assert "origin" not in report.segments_by_appliance
        answer = httpx.post(f"{fleet.steering_url}/v1/playback", json={"title": FLEET_TITLE},
                            headers={"Authorization": f"Bearer {fleet.viewer_session()}"}).json()
        assert all("/s/k2026." in u["url"] for u in answer["urls"])
        key = make_key(FLEET_TITLE, "180p", segment_name(1))
        rings = {kid: tokens.Keyring.from_strings({kid: secret}, kid) for kid, secret in both.items()}
        retired = tokens.Keyring.from_strings({"k2024": "streamfleet-key-2024-gone-01234567"}, "k2024")
        url = fleet.appliance_url("east-1")
        expires = int(time.time()) + 600

        def status(ring: tokens.Keyring) -> int:
            return httpx.get(url + key.signed_path(tokens.sign(ring, FLEET_TITLE, expires))).status_code

        for ring in rings.values():  # a viewer still holding an old-key URL keeps playing
            assert status(ring) == 200
        assert status(retired) == 403

        # Rollover done on east-1: only the new key is left.
        fleet.extra = {**extra, "appliance": {"tokens": {"keys": {"k2026": new}, "active": "k2026"}}}
        fleet.write_configs()
        fleet.processes["east-1"].stop()
        fleet.start_service("east-1").wait_healthy(20)
        assert status(rings["k2026"]) == 200
        assert status(rings["k2025"]) == 403

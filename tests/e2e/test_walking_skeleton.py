"""One title travels origin -> control plane -> steering -> appliance -> player, for real."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess

import httpx
import imageio_ffmpeg
import pytest

from player.session import PlayReport, play
from streamfleet.addressing import make_key, master_key
from streamfleet.launcher import DEV_KEY, Fleet
from streamfleet.tokens import Keyring, sign

from .conftest import TITLE

pytestmark = pytest.mark.e2e


def play_once(fleet: Fleet) -> PlayReport:
    session = fleet.viewer_session()
    return asyncio.run(play(fleet.steering_url, TITLE, origin_url=fleet.origin_url, session=session))


def steer(fleet: Fleet, title: str, session: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {session}"} if session else {}
    return httpx.post(f"{fleet.steering_url}/v1/playback", json={"title": title}, headers=headers)


def test_second_play_is_all_hits_and_bytes_match_origin(fleet: Fleet) -> None:
    first = play_once(fleet)
    assert first.ok, first.errors
    assert first.misses > 0, "a cold fleet must miss first"
    second = play_once(fleet)
    assert second.ok, second.errors
    assert second.misses == 0 and second.hits > 0
    assert second.hit_ratio == 1.0
    assert first.bytes_verified is True and second.bytes_verified is True
    # Client 127.0.0.1 matches site east's prefix, so only east appliances serve it.
    assert set(second.segments_by_appliance) <= {"east-1", "east-2"}
    # The sound is a rendition of its own: one audio segment beside every video segment, cached alike.
    for report in (first, second):
        assert report.audio == "audio" and report.audio_segments == report.segments == 2
    assert set(second.audio_segments_by_appliance) <= {"east-1", "east-2"}


def test_appliance_bytes_equal_origin_catalog(fleet: Fleet) -> None:
    catalog = httpx.get(f"{fleet.origin_url}/v1/titles/{TITLE}").json()
    ring = Keyring.from_strings({"demo": DEV_KEY}, "demo")
    token = sign(ring, TITLE, 2_000_000_000)
    checked = 0
    for cache_key, meta in catalog["files"].items():
        if not cache_key.endswith(".m4s"):
            continue
        _, rendition, name = cache_key.split("/")
        url = fleet.appliance_url("east-1") + make_key(TITLE, rendition, name).signed_path(token)
        body = httpx.get(url, timeout=10).content
        assert hashlib.sha256(body).hexdigest() == meta["sha256"]
        assert len(body) == meta["size"]
        checked += 1
    assert checked >= 2


def test_steering_ranks_site_appliances_then_origin(fleet: Fleet) -> None:
    answer = steer(fleet, TITLE, fleet.viewer_session()).json()
    kinds = [u["kind"] for u in answer["urls"]]
    assert kinds[-1] == "origin" and kinds.count("origin") == 1
    assert answer["site"] == "east"
    assert [u["appliance"] for u in answer["urls"][:2]] != [None, None]
    assert {u["appliance"] for u in answer["urls"][:2]} == {"east-1", "east-2"}


def test_bad_requests_get_clear_json_errors(fleet: Fleet) -> None:
    unknown = steer(fleet, "no-such-title", fleet.viewer_session())
    assert unknown.status_code == 404 and "error" in unknown.json()
    anonymous = steer(fleet, TITLE, None)
    assert anonymous.status_code == 401 and "error" in anonymous.json()
    assert steer(fleet, TITLE, fleet.viewer_session(ttl=-600)).status_code == 401
    forged = fleet.appliance_url("east-2") + master_key(TITLE).signed_path("demo.2000000000." + "A" * 43)
    response = httpx.get(forged)
    assert response.status_code == 403 and "error" in response.json()
    expired = sign(Keyring.from_strings({"demo": DEV_KEY}, "demo"), TITLE, 1_000_000)
    expired_url = fleet.appliance_url("east-2") + master_key(TITLE).signed_path(expired)
    assert httpx.get(expired_url).status_code == 403
    traversal = httpx.get(fleet.appliance_url("east-2") + "/s/tok/../../etc/passwd")
    assert traversal.status_code in (400, 404)


def test_dash_manifest_flows_like_the_master_playlist(fleet: Fleet) -> None:
    """Steering's dash_url: the appliance misses then hits on manifest.mpd, and ffmpeg's own DASH
    demuxer plays the title through that appliance."""
    answer = steer(fleet, TITLE, fleet.viewer_session()).json()
    first = answer["urls"][0]
    assert first["kind"] == "appliance" and first["url"].endswith(f"/{TITLE}/master.m3u8")
    dash_url = first["dash_url"]
    assert dash_url == first["url"].removesuffix("master.m3u8") + "manifest.mpd"
    meta = httpx.get(f"{fleet.origin_url}/v1/titles/{TITLE}").json()["files"][f"{TITLE}/manifest.mpd"]
    miss, hit = httpx.get(dash_url, timeout=10), httpx.get(dash_url, timeout=10)
    assert [miss.headers["x-cache"], hit.headers["x-cache"]] == ["MISS", "HIT"]
    assert miss.headers["x-served-by"] == first["appliance"]
    for response in (miss, hit):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/dash+xml")
        assert len(response.content) == meta["size"]
        assert hashlib.sha256(response.content).hexdigest() == meta["sha256"]
    # Stream copy to nowhere: every init and media segment the manifest names comes through the appliance.
    ffmpeg = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats"]
    run = subprocess.run([*ffmpeg, "-i", dash_url, "-map", "0", "-c", "copy", "-f", "null", "-"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Input #0, dash" in run.stderr and "Duration: 00:00:08.0" in run.stderr

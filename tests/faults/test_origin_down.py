"""Fault 2: the origin hangs, then dies, then comes back on the same port.

Titles already on the appliances keep playing throughout; a miss fails fast with a clear 504
(origin hung: no answer within ``upstream_timeout_s``) or 502 (origin down: connection
refused); once the origin is back, misses work again without restarting anything else.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx
import pytest

from player.session import PlayReport, play
from player.verify import FileCatalog
from streamfleet.addressing import make_key
from streamfleet.launcher import DEV_KEY, Fleet
from streamfleet.tokens import Keyring, sign

from .conftest import catalog_of, running_fleet, title_files
from .procs import sha256

pytestmark = pytest.mark.e2e

WARM, COLD = "warm-title", "cold-title"
UPSTREAM_TIMEOUT_S = 1.0
PEER_TIMEOUT_S = 1.0


def steer(fleet: Fleet, title: str) -> list[str | None]:
    answer = httpx.post(f"{fleet.steering_url}/v1/playback", json={"title": title},
                        headers={"Authorization": f"Bearer {fleet.viewer_session()}"}, timeout=5)
    assert answer.status_code == 200, answer.text
    return [u["appliance"] for u in answer.json()["urls"]]


def play_title(fleet: Fleet, title: str, catalog: FileCatalog) -> PlayReport:
    return asyncio.run(play(fleet.steering_url, title, session=fleet.viewer_session(), catalog=catalog))


def timed_get(url: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = httpx.get(url, timeout=30)
    return response, time.monotonic() - started


def test_origin_hung_then_down_then_back(tmp_path: Path, clip: Path) -> None:
    # No fill agent: COLD must stay off the appliances until a viewer asks for it.
    extra = {"appliance": {"upstream_timeout_s": UPSTREAM_TIMEOUT_S, "peer_timeout_s": PEER_TIMEOUT_S,
                           "fill_enabled": False}}
    with running_fleet(tmp_path, clip, titles=(WARM, COLD), extra=extra) as fleet:
        warm_catalog, cold_catalog = catalog_of(fleet, WARM), catalog_of(fleet, COLD)
        first = play_title(fleet, WARM, warm_catalog)
        assert first.ok and first.misses > 0
        ranked = steer(fleet, COLD)  # steering now knows COLD is ready (cached)
        cold_first, cold_second = ranked[0], ranked[1]
        assert cold_first is not None and cold_second is not None
        token = sign(Keyring.from_strings({"demo": DEV_KEY}, "demo"), COLD, int(time.time()) + 600)
        cold_key = make_key(COLD, "180p", "seg_00002.m4s")
        cold_url = fleet.appliance_url(cold_first) + cold_key.signed_path(token)
        origin = fleet.processes["origin"]

        def warm_still_plays() -> None:
            report = play_title(fleet, WARM, warm_catalog)
            assert report.ok, report.errors
            assert report.bytes_verified is True and report.misses == 0 and report.hit_ratio == 1.0
            assert "origin" not in report.segments_by_appliance

        # 1. The origin hangs (SIGSTOP: the kernel still accepts connections, nobody answers).
        assert origin.proc is not None
        origin.proc.send_signal(signal.SIGSTOP)
        try:
            warm_still_plays()
            response, seconds = timed_get(cold_url)
            assert response.status_code == 504, response.text
            assert response.json()["error"]["message"] == "origin timed out"
            assert seconds < UPSTREAM_TIMEOUT_S + 1.0, seconds
            # An appliance that asks its site peer first waits for the peer, then the origin:
            # the worst miss is peer_timeout_s per peer asked plus upstream_timeout_s.
            other_key = make_key(COLD, "180p", "seg_00003.m4s")
            response, seconds = timed_get(fleet.appliance_url(cold_second) + other_key.signed_path(token))
            assert response.status_code == 504, response.text
            assert seconds < PEER_TIMEOUT_S + UPSTREAM_TIMEOUT_S + 1.0, seconds
        finally:
            origin.kill()  # SIGKILL works on a stopped process

        # 2. The origin is down (connection refused): misses fail at once with a 502.
        warm_still_plays()
        response, seconds = timed_get(cold_url)
        assert response.status_code == 502, response.text
        assert "origin unreachable" in response.json()["error"]["message"]
        assert seconds < 1.0, seconds
        started = time.monotonic()
        cold = play_title(fleet, COLD, cold_catalog)
        assert not cold.ok and cold.segments == 0
        assert any("502" in e for e in cold.errors) and any("origin" in e for e in cold.errors), cold.errors
        assert time.monotonic() - started < 5

        # 3. The origin comes back on the same port; nothing else is restarted.
        fleet.start_service("origin").wait_healthy(30)
        response, _ = timed_get(cold_url)
        assert response.status_code == 200 and response.headers["x-cache"] == "MISS"
        assert sha256(response.content) == title_files(fleet, COLD)[cold_key.cache_key]["sha256"]
        back = play_title(fleet, COLD, cold_catalog)
        assert back.ok and back.bytes_verified is True, back.errors

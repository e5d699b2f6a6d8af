"""Fault 1: an appliance SIGKILLed mid-playback; the player fails over and every byte still verifies."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from player.session import Pacing, play
from player.sources import Fetched

from .conftest import TITLE, catalog_of, running_fleet

pytestmark = pytest.mark.e2e


def test_appliance_killed_mid_playback_fails_over_and_completes(tmp_path: Path, clip: Path) -> None:
    with running_fleet(tmp_path, clip) as fleet:
        catalog = catalog_of(fleet)
        killed: list[str] = []

        def kill_the_server(i: int, fetched: Fetched) -> None:
            # After the second segment, the appliance that served it dies (its keep-alive
            # connection to this player dies with it).
            if i == 1 and not killed:
                assert fetched.served_by in fleet.processes, fetched.served_by
                fleet.processes[fetched.served_by].kill()
                killed.append(fetched.served_by)

        started = time.monotonic()
        report = asyncio.run(play(
            fleet.steering_url, TITLE, session=fleet.viewer_session(), catalog=catalog,
            pacing=Pacing(buffer_target_s=8.0, speed=4.0), on_segment=kill_the_server,
        ))  # fmt: skip
        elapsed = time.monotonic() - started

        assert killed, "the kill hook never ran"
        assert report.ok, report.errors
        assert report.bytes_verified is True
        assert report.segments == report.segments_total == 5
        assert report.failovers >= 1
        assert any(killed[0] in e for e in report.errors), report.errors
        after_kill = {k: v for k, v in report.segments_by_appliance.items() if k != killed[0]}
        assert sum(after_kill.values()) == 3, report.segments_by_appliance
        # Failover over a dead socket is immediate: 20 s of media at 4x plays in ~5 s.
        assert elapsed < 15, elapsed

        # Once the control plane marks it down, steering stops offering the dead appliance.
        deadline = time.monotonic() + 10
        ranked: list[str | None] = [killed[0]]
        while time.monotonic() < deadline and killed[0] in ranked:
            answer = httpx.post(f"{fleet.steering_url}/v1/playback", json={"title": TITLE},
                                headers={"Authorization": f"Bearer {fleet.viewer_session()}"}).json()
            ranked = [u["appliance"] for u in answer["urls"]]
            time.sleep(0.2)
        assert killed[0] not in ranked, ranked
        again = asyncio.run(play(fleet.steering_url, TITLE, session=fleet.viewer_session(), catalog=catalog))
        assert again.ok and again.failovers == 0 and again.bytes_verified is True

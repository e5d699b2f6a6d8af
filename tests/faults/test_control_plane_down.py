"""Fault 3: the control plane down for a while (DOWN_S seconds here; minutes in production).

Steering keeps answering from its last fleet state (appliance URLs, not origin-only), the
appliances keep serving, and when the control plane returns every appliance registers again and
steering follows the new fleet state, with nothing else restarted. The outage is shortened to
keep the suite fast; nothing in the code path depends on its length except the appliances'
reconnect backoff, which is capped (``control_plane_max_backoff_s``, 10 s by default, 1 s here).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from player.session import play

from .conftest import TITLE, catalog_of, running_fleet
from .procs import wait_until

pytestmark = pytest.mark.e2e

DOWN_S = 12.0


def steering_health(url: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{url}/healthz", timeout=5).json()
    return body


def control_plane_registrations(url: str) -> float:
    for line in httpx.get(f"{url}/metrics", timeout=5).text.splitlines():
        if line.startswith("control_plane_registrations_total "):
            return float(line.split()[1])
    return 0.0


def test_control_plane_down_then_back(tmp_path: Path, clip: Path) -> None:
    extra = {"appliance": {"control_plane_max_backoff_s": 1.0}}
    with running_fleet(tmp_path, clip, extra=extra) as fleet:
        catalog = catalog_of(fleet)
        warm = asyncio.run(play(fleet.steering_url, TITLE, session=fleet.viewer_session(), catalog=catalog))
        assert warm.ok
        before = steering_health(fleet.steering_url)
        assert before["control_plane"] == "connected" and before["healthy_appliances"] == 3

        fleet.processes["control-plane"].kill()
        wait_until(lambda: steering_health(fleet.steering_url)["control_plane"] == "unreachable", 10,
                   "steering to notice the control plane is gone")
        down_until = time.monotonic() + DOWN_S
        plays = 0
        while time.monotonic() < down_until:
            report = asyncio.run(play(fleet.steering_url, TITLE, session=fleet.viewer_session(),
                                      catalog=catalog))
            assert report.ok and report.bytes_verified is True, report.errors
            assert report.ranked[:2] != ["origin"] and report.ranked[-1] == "origin", report.ranked
            assert "origin" not in report.segments_by_appliance and report.hit_ratio == 1.0
            for spec in fleet.specs:
                assert httpx.get(f"{fleet.appliance_url(spec.id)}/healthz", timeout=5).status_code == 200
            health = steering_health(fleet.steering_url)
            assert health["healthy_appliances"] == 3 and health["fleet_version"] == before["fleet_version"]
            plays += 1
            time.sleep(1.0)
        assert plays >= 5

        fleet.start_service("control-plane").wait_healthy(30)
        # Every appliance registers with the new process (its registry counter starts at 0)...
        wait_until(lambda: control_plane_registrations(fleet.control_plane_http) >= 3, 15,
                   "every appliance to register again")
        # ...and steering follows the new process's fleet state.
        wait_until(lambda: steering_health(fleet.steering_url)["control_plane"] == "connected", 15,
                   "steering to reconnect")
        fleet.wait_for_fleet(3, timeout=15)
        after = asyncio.run(play(fleet.steering_url, TITLE, session=fleet.viewer_session(), catalog=catalog))
        assert after.ok and after.failovers == 0 and after.bytes_verified is True

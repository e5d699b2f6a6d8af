"""Nightly fill for real: schedule and plan with the operator CLI, appliances fill, the first play is
all hits; an appliance killed mid-fill resumes; a killed appliance leaves WatchFleet fast."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from player.session import play
from streamfleet.addressing import dash_key
from streamfleet.launcher import DEV_KEY, Fleet
from streamfleet.tokens import Keyring, sign
from streamfleet.v1 import fleet_pb2, fleet_pb2_grpc

from .conftest import fleet_with_title

pytestmark = pytest.mark.e2e

TITLE = "fill-clip"
# Fleet processes a test here kills on purpose (SIGKILL exits -9).
KILLED = "west-1"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """A running fleet with one ingested title that no plan has placed yet."""
    with fleet_with_title(tmp_path_factory.mktemp("fill-fleet"), "Fill Clip", TITLE,
                          killed=frozenset({KILLED})) as f:
        yield f


def fill_cli(fleet: Fleet, *args: str) -> str:
    """``streamfleet fill ...`` against the fleet's control plane (URL and operator token from its
    config file, as on the control plane's host). Returns stdout."""
    return fleet.fill(*args)


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def site_filled(fleet: Fleet, site: str) -> bool:
    return fleet.site_filled(site)


def window_around_now(before_min: int, after_min: int) -> str:
    now = dt.datetime.now(dt.UTC)
    start, end = now - dt.timedelta(minutes=before_min), now + dt.timedelta(minutes=after_min)
    return f"{start:%H:%M}-{end:%H:%M}"


def metric(fleet: Fleet, appliance: str, name: str) -> float:
    text = httpx.get(fleet.appliance_url(appliance) + "/metrics", timeout=5).text
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert found, f"{name} missing from {appliance}'s /metrics"
    return float(found.group(1))


def title_bytes(fleet: Fleet) -> int:
    files = httpx.get(f"{fleet.origin_url}/v1/titles/{TITLE}", timeout=5).json()["files"]
    return sum(int(f["size"]) for f in files.values())


def test_after_fill_the_first_play_is_all_hits(fleet: Fleet) -> None:
    # east may fill now (a window around the current UTC time); west only later (see below).
    scheduled = fill_cli(fleet, "schedule", "--site", "east", "--window", window_around_now(30, 90),
                         "--tz", "UTC", "--rate", "200Mbps")
    assert "site east: fill" in scheduled and "200 Mbit/s" in scheduled
    closed = window_around_now(-240, -180)  # from 4 h ahead, wrapping, to 3 h ago: opens in 4 h
    total = title_bytes(fleet)
    # Slow enough that the next test can kill west-1 mid-fill even on a loaded machine: about
    # fifteen seconds for the title (the bucket's burst is one second's worth).
    slow = str(total * 8 // 15)  # bits per second
    fill_cli(fleet, "schedule", "--site", "west", "--window", closed, "--tz", "UTC", "--rate", slow)
    plan = json.loads(fill_cli(fleet, "--json", "plan"))
    assert plan["sites"]["east"]["titles_placed"] == 1 and plan["sites"]["east"]["replicas"] == 2
    wait_until(lambda: site_filled(fleet, "east"), 60, "east to fill")
    assert re.search(r"east-1 .*100\.0%.*done", fill_cli(fleet, "status", "--site", "east"))
    for appliance in ("east-1", "east-2"):
        assert metric(fleet, appliance, "streamfleet_appliance_fill_pinned_bytes") == total
    assert not fleet.fill_status("west")[0]["done"], "west's window is closed"

    report = asyncio.run(play(fleet.steering_url, TITLE, origin_url=fleet.origin_url,
                              session=fleet.viewer_session()))
    assert report.ok, report.errors
    assert report.misses == 0 and report.hits > 0, "the very first play must be served from disk"
    assert report.bytes_verified is True
    assert set(report.segments_by_appliance) <= {"east-1", "east-2"}
    # The audio rendition was filled like any other: its segments too came from disk.
    assert report.audio_segments == report.segments > 0
    assert set(report.audio_segments_by_appliance) <= {"east-1", "east-2"}
    # The fill brought the DASH manifest too: never asked for yet, and already on disk.
    token = sign(Keyring.from_strings({"demo": DEV_KEY}, "demo"), TITLE, 2_000_000_000)
    for appliance in ("east-1", "east-2"):
        mpd = httpx.get(fleet.appliance_url(appliance) + dash_key(TITLE).signed_path(token), timeout=10)
        assert mpd.status_code == 200 and mpd.headers["x-cache"] == "HIT"


def test_an_appliance_killed_mid_fill_resumes_where_it_stopped(fleet: Fleet) -> None:
    total = title_bytes(fleet)
    assert "run-now until" in fill_cli(fleet, "run-now", "--site", "west", "--hours", "1")
    done = "streamfleet_appliance_fill_done_bytes"
    wait_until(lambda: metric(fleet, KILLED, done) >= total // 4, 30, "west-1 to fill a quarter")
    assert metric(fleet, KILLED, done) < total, "the rate keeps the fill slow enough to interrupt"
    fleet.processes[KILLED].kill()
    fleet.start_service(KILLED).wait_healthy(30)
    wait_until(lambda: site_filled(fleet, "west"), 60, "west-1 to finish after its restart")
    # After the restart it fetched only what was missing: the rest was found on disk.
    assert metric(fleet, KILLED, 'streamfleet_appliance_fill_chunks_total{result="present"}') > 0
    assert 0 < metric(fleet, KILLED, "streamfleet_appliance_fill_bytes_total") < total
    assert metric(fleet, KILLED, "streamfleet_appliance_fill_pinned_bytes") == total


def test_a_killed_appliance_leaves_watchfleet_within_3_seconds(fleet: Fleet) -> None:
    states: queue.Queue[tuple[float, Any]] = queue.Queue()
    channel = grpc.insecure_channel(fleet.control_plane_addr)
    call = fleet_pb2_grpc.FleetStub(channel).WatchFleet(fleet_pb2.WatchFleetRequest(watcher="e2e-fill"))

    def follow() -> None:
        try:
            for state in call:
                states.put((time.monotonic(), state))
        except grpc.RpcError:
            pass  # cancelled at the end of the test

    def health(state: Any) -> int | None:
        found = [a.health for a in state.appliances if a.appliance_id == KILLED]
        return found[0] if found else None

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    try:
        while health(states.get(timeout=10)[1]) != fleet_pb2.HEALTH_HEALTHY:
            pass
        killed_at = time.monotonic()
        fleet.processes[KILLED].kill()
        seen_at, state = states.get(timeout=10)
        while health(state) not in (fleet_pb2.HEALTH_DOWN, None):
            seen_at, state = states.get(timeout=10)
        assert seen_at - killed_at < 3.0, f"still listed as up {seen_at - killed_at:.2f} s after the kill"
    finally:
        call.cancel()
        thread.join(5)
        channel.close()


def test_fill_state_survives_on_disk(fleet: Fleet) -> None:
    state = json.loads(Path(fleet.workdir / "appliances" / "east-1" / "fill_state.json").read_text())
    assert [e["title"] for e in state["entries"]] == [TITLE] and state["version"] > 0

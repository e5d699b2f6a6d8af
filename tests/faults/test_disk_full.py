"""Fault 6: the appliance's disk fills up (a capacity of a few chunks); eviction keeps it under
capacity and no request gets a 5xx, also with many viewers at once on more chunks than fit."""

from __future__ import annotations

import random
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from streamfleet.addressing import ChunkKey, make_key, segment_name

from .procs import SoloAppliance
from .standins import StandInOrigin, make_title, sign

pytestmark = pytest.mark.e2e

TITLE = "too-big-to-keep"
SEGMENTS = 12
FILES = make_title(TITLE, segments=SEGMENTS, segment_bytes=200_000)
CAPACITY = 700_000  # three segments and change


def seg(n: int) -> ChunkKey:
    return make_key(TITLE, "480p", segment_name(n))


def test_disk_full_evicts_and_never_fails(tmp_path: Path) -> None:
    with StandInOrigin({TITLE: FILES}) as origin, SoloAppliance(
        tmp_path, origin.url, capacity_bytes=CAPACITY
    ) as appliance:
        token = sign(TITLE)
        statuses: list[int] = []

        def viewer(seed: int) -> list[str]:
            problems = []
            order = list(range(SEGMENTS)) * 2
            random.Random(seed).shuffle(order)
            with httpx.Client(timeout=30) as client:
                for n in order:
                    r = client.get(appliance.url + seg(n).signed_path(token))
                    statuses.append(r.status_code)
                    if r.status_code != 200 or r.content != FILES[seg(n).cache_key]:
                        problems.append(f"{seg(n).cache_key}: {r.status_code} {r.text[:100]}")
            return problems

        with ThreadPoolExecutor(max_workers=12) as pool:
            problems = [p for batch in pool.map(viewer, range(12)) for p in batch]
        assert problems == []
        assert len(statuses) == 12 * 2 * SEGMENTS and set(statuses) == {200}

        # Chunks just written are kept for a second so their waiting viewers can pin them: a
        # burst overshoots briefly, then the next health check (every heartbeat) trims.
        time.sleep(1.1)
        health = httpx.get(f"{appliance.url}/healthz", timeout=5)
        assert health.status_code == 200
        assert 0 < health.json()["disk_used_bytes"] <= CAPACITY
        assert appliance.stored_bytes() <= CAPACITY
        assert appliance.metric("streamfleet_appliance_evictions_total") > 0
        assert appliance.metric("streamfleet_appliance_requests_total", result="error") == 0
        assert appliance.tmp_files() == []


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1.5 MB tmpfs: a disk that fills up long before a generous capacity_bytes (needs root)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1536k", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_real_disk_full_lowers_the_capacity_instead_of_failing(tmp_path: Path, small_disk: Path) -> None:
    with StandInOrigin({TITLE: FILES}) as origin, SoloAppliance(
        tmp_path, origin.url, data_dir=small_disk, capacity_bytes=50_000_000, scrub_bytes_per_s=0
    ) as appliance:
        token = sign(TITLE)
        for _ in range(2):
            for n in range(SEGMENTS):
                response = appliance.get(seg(n), token)
                assert response.status_code == 200, response.text
                assert response.content == FILES[seg(n).cache_key]
        health = httpx.get(f"{appliance.url}/healthz", timeout=5).json()
        assert health["status"] == "ok"
        assert health["disk_capacity_bytes"] < 1_536_000  # lowered to what the disk holds
        assert appliance.metric("streamfleet_appliance_evictions_total") > 0
        assert appliance.metric("streamfleet_appliance_requests_total", result="error") == 0
        appliance.stop()  # before the tmpfs goes

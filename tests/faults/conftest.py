"""Fixtures for fault tests: one generated clip per run, and fleets of real processes on loopback."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from player.verify import FileCatalog
from streamfleet.launcher import Fleet, streamfleet_argv

# 20 s at 320x180: five ~4 s segments of one rendition, ingested in about a second.
CLIP_SECONDS = 20
TITLE = "fault-clip"


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    done = subprocess.run(
        streamfleet_argv("testclip", str(path), "--seconds", str(CLIP_SECONDS), "--width", "320",
                         "--height", "180"),
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return path


@contextmanager
def running_fleet(
    workdir: Path, clip: Path, titles: Sequence[str] = (TITLE,), **fleet_args: Any
) -> Iterator[Fleet]:
    """A started fleet with ``titles`` ingested (all from ``clip``); stopped on the way out."""
    fleet = Fleet(workdir, **fleet_args)
    try:
        fleet.start()
        for title in titles:
            fleet.ingest(clip, title, title)
        fleet.wait_for_fleet(len(fleet.specs))
        yield fleet
    finally:
        fleet.stop()


def catalog_of(fleet: Fleet, title: str = TITLE) -> FileCatalog:
    return FileCatalog.from_title(httpx.get(f"{fleet.origin_url}/v1/titles/{title}", timeout=5).json())


def title_files(fleet: Fleet, title: str = TITLE) -> dict[str, dict[str, Any]]:
    body = httpx.get(f"{fleet.origin_url}/v1/titles/{title}", timeout=5).json()
    files: dict[str, dict[str, Any]] = body["files"]
    return files

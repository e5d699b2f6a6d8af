"""Fixtures that start a real fleet of processes on free loopback ports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from streamfleet.launcher import Fleet

TITLE = "e2e-clip"


@pytest.fixture(scope="module")
def fleet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fleet")


@pytest.fixture(scope="module")
def fleet(fleet_dir: Path) -> Iterator[Fleet]:
    """A running fleet with one ingested title (TITLE)."""
    f = Fleet(fleet_dir)
    try:
        f.start()
        clip = fleet_dir / "clip.mp4"
        made = f.run_cli("testclip", str(clip), "--seconds", "8", "--width", "640", "--height", "360")
        assert made.returncode == 0, made.stderr
        f.ingest(clip, "E2E Clip", TITLE)
        f.wait_for_fleet(len(f.specs))
        yield f
    finally:
        codes = f.stop()
        for name, code in codes.items():
            assert code == 0, f"{name} did not shut down cleanly (exit {code})"

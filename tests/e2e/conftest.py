"""Fixtures that start a real fleet of processes on free loopback ports."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from streamfleet.launcher import Fleet

TITLE = "e2e-clip"


@pytest.fixture(scope="module")
def fleet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fleet")


@contextlib.contextmanager
def fleet_with_title(workdir: Path, name: str, title: str,
                     killed: frozenset[str] = frozenset(),
                     extra: Mapping[str, Mapping[str, Any]] | None = None) -> Iterator[Fleet]:
    """A running fleet with ``title`` ingested from a generated clip; every process must stop
    cleanly at the end (those in ``killed`` may have died of SIGKILL in the test). ``extra``:
    config keys per role ("origin", "control-plane", "steering", "appliance"), as ``Fleet`` takes."""
    f = Fleet(workdir, extra=extra)
    try:
        f.start()
        clip = workdir / "clip.mp4"
        made = f.run_cli("testclip", str(clip), "--seconds", "8", "--width", "640", "--height", "360")
        assert made.returncode == 0, made.stderr
        f.ingest(clip, name, title)
        f.wait_for_fleet(len(f.specs))
        yield f
    finally:
        codes = f.stop()
        for proc, code in codes.items():
            assert code == 0 or (proc in killed and code == -9), f"{proc} did not shut down cleanly ({code})"


@pytest.fixture(scope="module")
def fleet(fleet_dir: Path) -> Iterator[Fleet]:
    """A running fleet with one ingested title (TITLE)."""
    with fleet_with_title(fleet_dir, "E2E Clip", TITLE) as f:
        yield f

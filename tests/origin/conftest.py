"""Shared fixtures: small generated clips, one ingested title (generated once per session), and the
database and object-store backends the contract tests run against (SQLite/PostgreSQL, disk/S3)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from origin.config import OriginConfig
from origin.ingest import IngestResult, ingest
from origin.testclip import generate_test_clip

from ..scaleout.backends import postgres_server

TITLE = "fixture-clip"


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="session")
def clip_360(clips: Path) -> Path:
    """6 s, 640x360 with audio: a 360p + 240p ladder, two segments each."""
    return generate_test_clip(clips / "clip360.mp4", seconds=6, width=640, height=360, fps=24)


@pytest.fixture(scope="session")
def clip_240_silent(clips: Path) -> Path:
    """4 s, 426x240, no audio track."""
    return generate_test_clip(clips / "clip240.mp4", seconds=4, width=426, height=240, fps=24, audio=False)


@pytest.fixture(scope="session")
def ingested(tmp_path_factory: pytest.TempPathFactory, clip_360: Path) -> tuple[OriginConfig, IngestResult]:
    """An origin data dir holding TITLE, ingested from clip_360. Tests must not modify it."""
    config = OriginConfig(data_dir=tmp_path_factory.mktemp("origin-data"))
    return config, ingest(config, clip_360, "Fixture Clip", TITLE)


def config_in(tmp_path: Path) -> OriginConfig:
    return OriginConfig(data_dir=tmp_path / "origin")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path | str]:
    """What a store opens: a SQLite file, or the URL of a fresh database on the session's PostgreSQL."""
    if request.param == "sqlite":
        yield tmp_path / "db.sqlite3"
        return
    server = postgres_server(request)
    url = server.create_database()
    yield url
    server.drop_database(url)

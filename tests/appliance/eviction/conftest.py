"""Shared fixtures: the real traces in ``shared/traces`` beside the repository (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.eviction import Request, expand_to_chunks, read_trace

TRACES = Path(__file__).resolve().parents[3].parent / "shared" / "traces"
YOUTUBE_S1 = TRACES / "umass_youtube" / "youtube.parsed.012908.S1.dat"
TENCENT = TRACES / "tencent_photo" / "cloud_photos-sample.bz2"
CHUNK_SEED = 1


def _need(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"trace {path} is absent (shared/traces must sit beside the repository)")
    return path


@pytest.fixture(scope="session")
def youtube() -> list[Request]:
    return read_trace(_need(YOUTUBE_S1), "umass").requests


@pytest.fixture(scope="session")
def tencent() -> list[Request]:
    return read_trace(_need(TENCENT), "tencent").requests


@pytest.fixture(scope="session")
def youtube_chunks(youtube: list[Request]) -> list[Request]:
    return expand_to_chunks(youtube, CHUNK_SEED)

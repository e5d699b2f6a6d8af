"""Fault 4: a chunk corrupted on the appliance's disk is never served; it is fetched again.

Three ways a chunk file goes bad: truncated (size differs: caught by the stat every hit makes),
bytes overwritten in place while the appliance runs (same size; the file's identity --
inode, mtime, ctime -- differs from the one recorded when the chunk was verified, so the next
hit hashes it again), and bytes overwritten while the appliance is down (every chunk found at
start-up is hashed on its first hit). Silent media corruption that leaves the file's identity
alone is the scrubber's job (``scrub_bytes_per_s``), tested in tests/appliance.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamfleet.addressing import ChunkKey, make_key, segment_name

from .procs import SoloAppliance, sha256
from .standins import StandInOrigin, make_title, sign

pytestmark = pytest.mark.e2e

TITLE = "corrupt-me"
FILES = make_title(TITLE)


def seg(n: int) -> ChunkKey:
    return make_key(TITLE, "480p", segment_name(n))


@pytest.fixture
def origin() -> Iterator[StandInOrigin]:
    with StandInOrigin({TITLE: FILES}) as origin:
        yield origin


def fetch(appliance: SoloAppliance, key: ChunkKey) -> tuple[bytes, str]:
    response = appliance.get(key, sign(TITLE))
    assert response.status_code == 200, response.text
    return response.content, response.headers["x-cache"]


def flip(path: Path, offset: int = 1000) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0xFF]))


def test_corrupted_while_running_is_never_served(tmp_path: Path, origin: StandInOrigin) -> None:
    with SoloAppliance(tmp_path, origin.url) as appliance:
        for n in (0, 1, 2):
            body, cache = fetch(appliance, seg(n))
            assert cache == "MISS" and body == FILES[seg(n).cache_key]
            assert fetch(appliance, seg(n)) == (body, "HIT")

        # Truncated: the size no longer matches the index.
        path = appliance.chunk_path(seg(0))
        os.truncate(path, path.stat().st_size // 2)
        body, cache = fetch(appliance, seg(0))
        assert cache == "MISS" and body == FILES[seg(0).cache_key]

        # Same size, one byte flipped in place, mtime even put back: still caught (ctime, inode).
        path = appliance.chunk_path(seg(1))
        before = path.stat()
        flip(path)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        body, cache = fetch(appliance, seg(1))
        assert sha256(body) == sha256(FILES[seg(1).cache_key])
        assert cache == "MISS"
        assert appliance.metric("streamfleet_appliance_corrupt_chunks_total") == 1

        # Replaced by another file (new inode) of the right size.
        path = appliance.chunk_path(seg(2))
        replacement = path.with_suffix(".new")
        replacement.write_bytes(bytes(path.stat().st_size))
        os.replace(replacement, path)
        body, cache = fetch(appliance, seg(2))
        assert body == FILES[seg(2).cache_key] and cache == "MISS"
        assert appliance.metric("streamfleet_appliance_corrupt_chunks_total") == 2
        # Each one was fetched twice from the origin: the first fill and the refetch.
        assert [origin.chunk_requests[seg(n).cache_key] for n in (0, 1, 2)] == [2, 2, 2]
        # Good chunks are still served from disk, untouched.
        assert fetch(appliance, seg(1)) == (FILES[seg(1).cache_key], "HIT")


def test_corrupted_while_down_is_caught_on_the_first_hit(tmp_path: Path, origin: StandInOrigin) -> None:
    appliance = SoloAppliance(tmp_path, origin.url)
    with appliance:
        for n in (0, 1):
            fetch(appliance, seg(n))
    flip(appliance.chunk_path(seg(0)), offset=5)
    with appliance:
        body, cache = fetch(appliance, seg(0))
        assert body == FILES[seg(0).cache_key] and cache == "MISS"
        assert appliance.metric("streamfleet_appliance_corrupt_chunks_total") == 1
        body, cache = fetch(appliance, seg(1))  # intact: verified on this first hit, then served
        assert body == FILES[seg(1).cache_key] and cache == "HIT"
        assert origin.chunk_requests[seg(1).cache_key] == 1

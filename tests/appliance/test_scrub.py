"""Scrubber: silent corruption (bytes changed, file identity not) is found and dropped; LRU untouched."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from appliance.scrub import Scrubber
from appliance.store import ChunkStore
from streamfleet.addressing import ChunkKey, make_key, segment_name

pytestmark = pytest.mark.anyio


def k(n: int) -> ChunkKey:
    return make_key("clip", "480p", segment_name(n))


def put(store: ChunkStore, key: ChunkKey, data: bytes, verified_as: bytes | None = None) -> None:
    """Store ``data`` as verified against ``verified_as`` (default: itself).

    A file whose bytes differ from what was verified while its inode, size, mtime and ctime are
    unchanged is exactly what silent disk corruption looks like to the store.
    """
    with store.writer(key) as writer:
        writer.write(data)
        writer.commit(hashlib.sha256(data if verified_as is None else verified_as).hexdigest())


async def no_sleep(seconds: float) -> None:
    return None


async def test_scrub_drops_silently_corrupted_chunks_at_the_configured_rate(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path, 10_000_000)
    store.open()
    good = os.urandom(100_000)
    put(store, k(0), good)
    put(store, k(1), bytes([good[0] ^ 1]) + good[1:], verified_as=good)  # rotted after verification
    put(store, k(2), good)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    scrubber = Scrubber(store, 1_000_000, sleep=sleep, monotonic=lambda: 0.0)
    assert [await scrubber.check(k(n)) for n in range(3)] == [True, False, True]
    assert k(1) not in store and not store.path_of(k(1)).exists()
    assert store.stats.corrupt == 1 and store.stats.scrubbed_chunks == 3
    assert waits == [pytest.approx(0.1)] * 3  # 100 kB at 1 MB/s each
    assert await scrubber.check(k(1)) is None  # gone: nothing to check
    assert store.verified_keys() == [k(0), k(2)]


async def test_scrub_is_not_a_use(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path, 250_000)
    store.open()
    put(store, k(0), bytes(100_000))
    put(store, k(1), bytes(100_000))
    assert await Scrubber(store, 1e9, sleep=no_sleep).check(k(0)) is True
    put(store, k(2), bytes(100_000))  # over capacity: the least recently *used* goes, k(0)
    assert k(0) not in store and k(1) in store

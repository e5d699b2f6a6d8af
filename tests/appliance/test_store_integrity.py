"""ChunkStore under faults: files changed behind its back, and fills racing eviction in a full store."""

from __future__ import annotations

import os
from pathlib import Path

from appliance.store import ChunkStore
from streamfleet.addressing import ChunkKey, make_key, segment_name


class Ticker:
    """A settable monotonic clock."""

    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def k(n: int) -> ChunkKey:
    return make_key("clip", "480p", segment_name(n))


def put(store: ChunkStore, key: ChunkKey, data: bytes, sha256: str | None = "ab" * 32) -> None:
    with store.writer(key) as writer:
        writer.write(data)
        writer.commit(sha256)


def test_a_file_written_behind_the_stores_back_must_be_verified_again(tmp_path: Path) -> None:
    store = ChunkStore(tmp_path, 10_000)
    store.open()
    put(store, k(0), b"a" * 100)
    first = store.pin(k(0))
    store.unpin(k(0))
    assert first.sha256 == "ab" * 32
    with open(first.path, "r+b") as fh:  # same size, new bytes
        fh.write(b"b")
    os.utime(first.path, ns=(first.stat.st_atime_ns, first.stat.st_mtime_ns))  # mtime put back: ctime moves
    changed = store.pin(k(0))
    store.unpin(k(0))
    assert changed.sha256 is None and store.stats.changed == 1
    # A check of the file as it is now is recorded; one of an older state of the file is not.
    store.mark_verified(k(0), "cd" * 32, first.stat)
    assert store.pin(k(0)).sha256 is None
    store.unpin(k(0))
    store.mark_verified(k(0), "cd" * 32, changed.stat)
    assert store.pin(k(0)).sha256 == "cd" * 32
    store.unpin(k(0))
    assert store.stats.changed == 1  # re-verified, not counted again


def test_fresh_chunks_survive_eviction_until_their_waiters_pin_them(tmp_path: Path) -> None:
    ticker = Ticker()
    store = ChunkStore(tmp_path, 250, monotonic=ticker, fresh_s=1.0)
    store.open()
    put(store, k(0), bytes(200))
    put(store, k(1), bytes(200))  # over capacity, but k(0) was just filled: nobody has pinned it yet
    assert k(0) in store and k(1) in store and store.used_bytes == 400
    store.unpin(store.pin(k(0)).key)
    ticker.now += 1.5
    store.trim()  # the grace is over: back under capacity, least recently used first
    assert k(1) not in store and k(0) in store and store.used_bytes == 200
    # Without a grace, a fill may be evicted by the next one before anyone pins it.
    eager = ChunkStore(tmp_path / "eager", 250)
    eager.open()
    put(eager, k(0), bytes(200))
    put(eager, k(1), bytes(200))
    assert k(0) not in eager and eager.used_bytes == 200

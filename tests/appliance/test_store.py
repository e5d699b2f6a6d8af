"""ChunkStore: atomic writes, index rebuilt from disk, stray temp files, byte-bounded LRU eviction."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from appliance.errors import ChunkTooLarge, NotStored
from appliance.store import ChunkStore
from streamfleet.addressing import ChunkKey, make_key, master_key, segment_name


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        self.now += 1
        return self.now


def k(n: int, title: str = "clip") -> ChunkKey:
    return make_key(title, "480p", segment_name(n))


def put(store: ChunkStore, key: ChunkKey, data: bytes) -> None:
    with store.writer(key) as writer:
        writer.write(data[: len(data) // 2])
        writer.write(data[len(data) // 2 :])
        writer.commit()


def opened(root: Path, capacity: int = 10_000) -> ChunkStore:
    store = ChunkStore(root, capacity, clock=FakeClock())
    store.open()
    return store


def test_committed_chunk_is_a_file_at_its_key_and_pins_hand_out_paths(tmp_path: Path) -> None:
    store = opened(tmp_path)
    put(store, k(0), b"a" * 100)
    chunk = store.pin(k(0))
    assert chunk.path == tmp_path / "chunks" / "clip" / "480p" / "seg_00000.m4s"
    assert chunk.size == 100 and chunk.path.read_bytes() == b"a" * 100
    assert store.used_bytes == 100 and len(store) == 1 and store.titles() == ["clip"]
    assert list((tmp_path / "tmp").iterdir()) == []
    store.unpin(k(0))


def test_uncommitted_write_is_never_visible_and_leaves_nothing(tmp_path: Path) -> None:
    store = opened(tmp_path)
    with pytest.raises(RuntimeError), store.writer(k(1)) as writer:
        writer.write(b"partial")
        assert len(list((tmp_path / "tmp").iterdir())) == 1
        with pytest.raises(NotStored):
            store.pin(k(1))
        raise RuntimeError("crash mid-write")
    with pytest.raises(NotStored):
        store.pin(k(1))
    assert not store.path_of(k(1)).exists()
    assert list((tmp_path / "tmp").iterdir()) == []
    assert store.used_bytes == 0


def test_restart_rebuilds_index_and_deletes_stray_temp_files(tmp_path: Path) -> None:
    store = opened(tmp_path)
    put(store, master_key("clip"), b"#EXTM3U\n")
    put(store, k(0), b"x" * 300)
    put(store, k(1, "other"), b"y" * 200)
    # A crash mid-write leaves a temp file behind; a stranger drops a non-chunk file.
    (tmp_path / "tmp" / "deadbeef.part").write_bytes(b"half a chunk")
    (tmp_path / "chunks" / "clip" / "notes.txt").write_bytes(b"not a chunk")

    again = opened(tmp_path)
    assert list((tmp_path / "tmp").iterdir()) == []
    assert len(again) == 3 and again.used_bytes == 8 + 300 + 200
    assert again.titles() == ["clip", "other"]
    assert again.pin(k(0)).path.read_bytes() == b"x" * 300


def test_eviction_keeps_used_bytes_under_capacity_in_lru_order(tmp_path: Path) -> None:
    store = opened(tmp_path, capacity=1000)
    for n in range(4):
        put(store, k(n), bytes(250))
    assert store.used_bytes == 1000
    store.unpin(store.pin(k(0)).key)  # k(0) is now the most recently used
    put(store, k(4), bytes(250))  # one must go: the least recently used is k(1)
    assert store.used_bytes <= 1000
    assert k(1) not in store and not store.path_of(k(1)).exists()
    put(store, k(5), bytes(400))  # two more go: k(2), k(3)
    assert store.used_bytes <= 1000
    assert [n for n in range(6) if k(n) in store] == [0, 4, 5]
    assert store.stats.evictions == 3 and store.stats.evicted_bytes == 750
    # Empty rendition directories of fully evicted titles are removed.
    put(store, k(9, "gone"), bytes(1000))
    assert not (tmp_path / "chunks" / "clip").exists()


def test_pinned_chunks_are_not_evicted_until_released(tmp_path: Path) -> None:
    store = opened(tmp_path, capacity=500)
    put(store, k(0), bytes(300))
    chunk = store.pin(k(0))
    put(store, k(1), bytes(300))  # over capacity, but k(0) is being served and k(1) is new
    assert k(0) in store and store.used_bytes == 600
    store.unpin(chunk.key)  # released: the store catches up
    assert k(0) not in store and store.used_bytes == 300


def test_restart_with_smaller_capacity_evicts(tmp_path: Path) -> None:
    store = opened(tmp_path, capacity=1000)
    for n in range(4):
        put(store, k(n), bytes(250))
    smaller = opened(tmp_path, capacity=600)
    assert smaller.used_bytes <= 600 and len(smaller) == 2


def test_missing_or_resized_file_is_dropped_as_a_miss(tmp_path: Path) -> None:
    store = opened(tmp_path)
    put(store, k(0), bytes(100))
    put(store, k(1), bytes(100))
    os.unlink(store.path_of(k(0)))
    store.path_of(k(1)).write_bytes(bytes(50))
    for key in (k(0), k(1)):
        with pytest.raises(NotStored):
            store.pin(key)
        assert key not in store
    assert store.used_bytes == 0 and store.stats.dropped == 2
    assert not store.path_of(k(1)).exists()


def test_chunk_larger_than_capacity_is_refused(tmp_path: Path) -> None:
    store = opened(tmp_path, capacity=100)
    with pytest.raises(ChunkTooLarge):
        put(store, k(0), bytes(101))
    assert len(store) == 0 and list((tmp_path / "tmp").iterdir()) == []


def test_recommit_of_same_key_replaces_in_place(tmp_path: Path) -> None:
    store = opened(tmp_path)
    put(store, k(0), bytes(100))
    put(store, k(0), bytes(100))
    assert len(store) == 1 and store.used_bytes == 100


def test_check_writable(tmp_path: Path) -> None:
    store = opened(tmp_path)
    assert store.check_writable()
    (tmp_path / "tmp").rmdir()
    (tmp_path / "tmp").write_bytes(b"a file where the temp directory should be")
    assert not store.check_writable()

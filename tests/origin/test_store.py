"""The filesystem object store's own guarantees: atomic renames, fsync, paths that cannot escape
(the behaviour every store shares is in test_store_contract.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from origin.errors import ObjectNotFound
from origin.store_fs import FileObjectStore
from streamfleet.addressing import AddressError, ChunkKey, make_key, master_key

SEG = make_key("film", "720p", "seg_00003.m4s")


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_put_open_stat_delete(tmp_path: Path) -> None:
    store = FileObjectStore(tmp_path / "objects")
    assert store.put_bytes(SEG, b"hello") == 5
    assert store.path(SEG) == tmp_path / "objects" / "film" / "720p" / "seg_00003.m4s"
    with store.open(SEG) as fh:
        assert fh.read() == b"hello"
    assert store.stat(SEG).size == 5
    assert store.exists(SEG)
    assert store.delete(SEG) is True
    assert store.delete(SEG) is False
    with pytest.raises(ObjectNotFound):
        store.open(SEG)
    with pytest.raises(ObjectNotFound):
        store.stat(SEG)


def test_failed_write_leaves_old_object_and_no_temp_file(tmp_path: Path) -> None:
    store = FileObjectStore(tmp_path)
    store.put_bytes(SEG, b"old")

    def broken() -> Iterator[bytes]:
        yield b"new-partial"
        raise OSError("disk on fire")

    with pytest.raises(OSError, match="disk on fire"):
        store.put_chunks(SEG, broken())
    assert store.path(SEG).read_bytes() == b"old"
    assert files_under(tmp_path) == ["film/720p/seg_00003.m4s"]


def test_failed_first_write_leaves_nothing(tmp_path: Path) -> None:
    store = FileObjectStore(tmp_path)

    def broken() -> Iterator[bytes]:
        yield b"x" * 1000
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.put_chunks(SEG, broken())
    assert files_under(tmp_path) == []


def test_replace_is_whole(tmp_path: Path) -> None:
    store = FileObjectStore(tmp_path)
    store.put_bytes(SEG, b"a" * 100_000)
    reader = store.open(SEG)  # a reader holding the old object keeps seeing all of it
    store.put_bytes(SEG, b"b" * 10)
    assert reader.read() == b"a" * 100_000
    reader.close()
    assert store.path(SEG).read_bytes() == b"b" * 10


def test_move_and_copy_in(tmp_path: Path) -> None:
    store = FileObjectStore(tmp_path / "objects")
    src = tmp_path / "scratch.bin"
    src.write_bytes(b"payload")
    assert store.put_file(SEG, src) == 7 and src.exists()
    key = master_key("film")
    assert store.move_file(key, src) == 7
    assert not src.exists()
    assert store.path(key).read_bytes() == b"payload"


def test_delete_title_removes_only_that_title(tmp_path: Path) -> None:
    store = FileObjectStore(tmp_path)
    store.put_bytes(SEG, b"1")
    store.put_bytes(master_key("film"), b"2")
    other = make_key("other", "240p", "init.mp4")
    store.put_bytes(other, b"3")
    assert store.titles() == ["film", "other"]
    assert store.delete_title("film") is True
    assert store.delete_title("film") is False
    assert files_under(tmp_path) == ["other/240p/init.mp4"]


@pytest.mark.parametrize(
    "key",
    [ChunkKey("..", "", "master.m3u8"), ChunkKey("film", "../..", "x"), ChunkKey("film", "720p", "../../etc"),
     ChunkKey("film/../x", "720p", "init.mp4")],
)
def test_hand_built_keys_cannot_escape(tmp_path: Path, key: ChunkKey) -> None:
    store = FileObjectStore(tmp_path)
    with pytest.raises(AddressError):
        store.path(key)
    with pytest.raises(AddressError):
        store.put_bytes(key, b"evil")
    with pytest.raises(AddressError):
        store.delete_title("../x")

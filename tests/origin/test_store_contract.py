"""One contract for every ObjectStore, run against the filesystem and a real S3-compatible server."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from origin.errors import ObjectNotFound
from origin.store import ObjectStore, ObjectStoreError, open_object_store
from origin.store_fs import FileObjectStore
from origin.store_s3 import PART_SIZE, S3ObjectStore
from streamfleet.addressing import AddressError, ChunkKey, make_key, master_key

from ..scaleout.backends import s3_server

SEG = make_key("film", "720p", "seg_00003.m4s")


@pytest.fixture(params=["fs", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    if request.param == "fs":
        opened: ObjectStore = FileObjectStore(tmp_path / "objects")
    else:
        server = s3_server(request)
        opened = S3ObjectStore(server.client(), server.create_bucket(), "some/prefix")
    yield opened
    opened.close()


def joined(chunks: Iterator[bytes]) -> bytes:
    return b"".join(chunks)


def test_put_stat_read_delete(store: ObjectStore) -> None:
    assert not store.exists(SEG)
    assert store.put_bytes(SEG, b"hello world") == 11
    assert store.exists(SEG) and store.stat(SEG).size == 11 and store.stat(SEG).modified > 0
    assert joined(store.read(SEG)) == b"hello world"
    assert joined(store.read(SEG, 6)) == b"world"
    assert joined(store.read(SEG, 0, 5)) == b"hello"
    assert joined(store.read(SEG, 4, 7)) == b"o w"
    assert joined(store.read(SEG, 3, 3)) == b""
    assert store.delete(SEG) is True
    assert store.delete(SEG) is False
    for miss in (lambda: store.stat(SEG), lambda: store.read(SEG), lambda: store.read(SEG, 2, 5)):
        with pytest.raises(ObjectNotFound):
            miss()  # at once, not on the first chunk


def test_empty_object(store: ObjectStore) -> None:
    assert store.put_bytes(master_key("film"), b"") == 0
    assert store.stat(master_key("film")).size == 0 and joined(store.read(master_key("film"))) == b""


def test_large_objects_stream_in_parts_and_chunks(store: ObjectStore, tmp_path: Path) -> None:
    # Past one S3 part (a multipart upload) and many read chunks; built and checked without
    # holding a second copy of the object.
    block = bytes(range(256)) * 4096  # 1 MiB
    count = PART_SIZE // len(block) + 3
    size = store.put_chunks(SEG, (block for _ in range(count)))
    assert size == count * len(block) and store.stat(SEG).size == size
    digest = hashlib.sha256()
    largest = 0
    for chunk in store.read(SEG):
        digest.update(chunk)
        largest = max(largest, len(chunk))
    assert digest.hexdigest() == hashlib.sha256(block * count).hexdigest()
    assert largest <= 1 << 20  # streamed, never the whole object at once
    start = PART_SIZE - 10  # a range across the part boundary
    assert joined(store.read(SEG, start, start + 20)) == (block * 9)[start:start + 20]


def test_failed_write_stores_nothing_and_keeps_the_old_object(store: ObjectStore) -> None:
    store.put_bytes(SEG, b"old")

    def broken() -> Iterator[bytes]:
        yield b"x" * (PART_SIZE + 1)  # far enough for an S3 multipart upload to have begun
        raise OSError("disk on fire")

    with pytest.raises(OSError, match="disk on fire"):
        store.put_chunks(SEG, broken())
    assert joined(store.read(SEG)) == b"old"
    other = make_key("film", "720p", "init.mp4")
    with pytest.raises(OSError):
        store.put_chunks(other, broken())
    assert not store.exists(other)


def test_files_move_and_copy_in(store: ObjectStore, tmp_path: Path) -> None:
    src = tmp_path / "scratch.bin"
    src.write_bytes(b"payload")
    assert store.put_file(SEG, src) == 7 and src.exists()
    assert store.move_file(master_key("film"), src) == 7 and not src.exists()
    assert joined(store.read(master_key("film"))) == b"payload"


def test_titles_and_delete_title(store: ObjectStore) -> None:
    store.put_bytes(SEG, b"1")
    store.put_bytes(master_key("film"), b"2")
    other = make_key("other", "240p", "init.mp4")
    store.put_bytes(other, b"3")
    assert store.titles() == ["film", "other"]
    assert store.delete_title("film") is True
    assert store.delete_title("film") is False
    assert store.titles() == ["other"] and store.exists(other) and not store.exists(SEG)
    store.check()


@pytest.mark.parametrize("key", [ChunkKey("..", "", "master.m3u8"), ChunkKey("film", "../..", "x"),
                                 ChunkKey("film/../x", "720p", "init.mp4")])
def test_hand_built_keys_are_refused(store: ObjectStore, key: ChunkKey) -> None:
    with pytest.raises(AddressError):
        store.put_bytes(key, b"evil")
    with pytest.raises(AddressError):
        store.stat(key)
    with pytest.raises(AddressError):
        store.delete_title("../x")


def test_urls_choose_the_store(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    assert isinstance(open_object_store("", tmp_path), FileObjectStore)
    chosen = open_object_store(f"file://{tmp_path}/elsewhere", tmp_path)
    assert isinstance(chosen, FileObjectStore) and chosen.root == tmp_path / "elsewhere"
    for bad in ("ftp://x/y", "s3:///nobucket", "s3://b/p?colour=red", "file://host/path"):
        with pytest.raises(ObjectStoreError):
            open_object_store(bad, tmp_path)
    server = s3_server(request)
    bucket = server.create_bucket()
    with pytest.MonkeyPatch.context() as env:
        for name, value in server.ACCESS.items():
            env.setenv(name, value)
        s3 = open_object_store(server.url(bucket, "pre/fix"), tmp_path)
        assert isinstance(s3, S3ObjectStore) and s3.prefix == "pre/fix/"
        s3.put_bytes(SEG, b"via url")
        names = [o["Key"] for o in server.client().list_objects_v2(Bucket=bucket)["Contents"]]
        assert names == ["pre/fix/film/720p/seg_00003.m4s"]
        s3.check()
        missing = open_object_store(server.url("no-such-bucket"), tmp_path)
        with pytest.raises(ObjectStoreError):
            missing.check()
        s3.close()
        missing.close()

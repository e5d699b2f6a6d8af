"""One writer per upload across processes: the data file's flock refuses a second PATCH (409),
a termination (423) and a second completion, wherever the other request runs."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from origin.app import build_app
from origin.config import OriginConfig
from origin.errors import UploadError
from origin.uploads import UploadStore

from .servers import bearer, login, origin_config, serving

TUS = {"Tus-Resumable": "1.0.0"}


def hold_lock(path: Path) -> int:
    """Lock ``path`` as another origin process writing it would (its own open file description)."""
    fd = os.open(path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


@pytest.fixture
def store(tmp_path: Path) -> UploadStore:
    return UploadStore(tmp_path / "uploads", 0)


def test_a_locked_upload_refuses_writers_and_termination(store: UploadStore) -> None:
    upload = store.create("u1", 10, {})
    other = hold_lock(store.data_path(upload.id))
    try:
        with pytest.raises(UploadError, match="another request is writing") as busy:
            store.open_append(upload.id, 0)
        assert busy.value.status == 409
        with pytest.raises(UploadError) as locked:
            store.terminate(upload.id)
        assert locked.value.status == 423
        assert store.expire(0) == []  # expiry leaves it alone too
    finally:
        os.close(other)
    fd = store.open_append(upload.id, 0)
    try:  # and now it is ours: the next writer is refused
        with pytest.raises(UploadError, match="another request is writing"):
            store.open_append(upload.id, 0)
    finally:
        os.close(fd)
    store.terminate(upload.id)
    with pytest.raises(UploadError) as gone:
        store.terminate(upload.id)
    assert gone.value.status == 404


def test_an_upload_completed_while_waiting_is_not_written_again(store: UploadStore, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    upload = store.create("u1", 4, {})
    path = store.data_path(upload.id)
    path.write_bytes(b"data")
    moved = tmp_path / "sources" / "t.src"
    moved.parent.mkdir()
    real_flock = fcntl.flock

    def completed_meanwhile(fd: int, operation: int) -> None:
        # Another copy completes the upload (moves the file away) between our open and our lock.
        if path.exists():
            os.replace(path, moved)
        real_flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", completed_meanwhile)
    with pytest.raises(UploadError, match="another request is completing") as info:
        store.open_append(upload.id, 4)
    assert info.value.status == 409
    assert moved.read_bytes() == b"data"
    store.finish(upload.id, "t")
    with pytest.raises(UploadError, match="already complete"):
        store.open_append(upload.id, 4)


def test_expiry_counts_from_the_last_byte_received(tmp_path: Path) -> None:
    now = [time.time()]
    store = UploadStore(tmp_path / "uploads", 0, clock=lambda: now[0])
    active = store.create("u1", 10, {})
    idle = store.create("u1", 10, {})
    now[0] += 1000  # both were created 1000 s ago; one has received bytes just now
    store.data_path(active.id).write_bytes(b"12345")
    os.utime(store.data_path(active.id), (now[0], now[0]))
    os.utime(store.data_path(idle.id), (now[0] - 1000, now[0] - 1000))
    assert store.expire(500) == [idle.id]
    assert store.offset(active.id) == 5


# -- over HTTP: two apps on one data directory are two origin copies --------------------------------


@pytest.fixture
def config(tmp_path: Path) -> OriginConfig:
    return origin_config(tmp_path)


@pytest.fixture
def copies(config: OriginConfig) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    with serving(build_app(config)) as a, serving(build_app(config)) as b:
        yield a, b


def test_a_patch_on_one_copy_locks_the_upload_on_the_other(copies: tuple[httpx.Client, httpx.Client],
                                                           config: OriginConfig) -> None:
    a, b = copies
    token = login(a, "maker", "creator")
    auth = {**TUS, **bearer(token)}
    data = os.urandom(300_000)
    # One byte more than sent: the upload stays open, so its bytes can be read back.
    created = a.post("/v1/uploads", headers={**auth, "Upload-Length": str(len(data) + 1)})
    url = created.headers["location"]
    patch = {**auth, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}
    first_sent, go_on = threading.Event(), threading.Event()

    def body() -> Iterator[bytes]:
        yield data[:100_000]
        first_sent.set()
        assert go_on.wait(10)
        yield data[100_000:]

    answers: dict[str, httpx.Response] = {}
    writer = threading.Thread(target=lambda: answers.update(a=a.patch(url, content=body(), headers={
        **patch, "Content-Length": str(len(data))})))
    writer.start()
    try:
        assert first_sent.wait(10)
        deadline = time.monotonic() + 10
        while int(b.head(url, headers=auth).headers["upload-offset"]) < 100_000:
            assert time.monotonic() < deadline, "the first bytes never arrived"
            time.sleep(0.01)
        # B sees the right offset, yet may not write: A holds the upload.
        answers["b"] = b.patch(url, content=b"x" * 10, headers={**patch, "Upload-Offset": "100000"})
        answers["delete"] = b.delete(url, headers=auth)
    finally:
        go_on.set()
        writer.join(20)
    assert answers["b"].status_code == 409
    assert "another request is writing" in answers["b"].json()["error"]["message"]
    assert answers["delete"].status_code == 423
    # A was not disturbed: its bytes only, in order.
    assert answers["a"].status_code == 204 and answers["a"].headers["upload-offset"] == str(len(data))
    upload_id = url.rsplit("/", 1)[1]
    assert (config.uploads_dir / f"{upload_id}.part").read_bytes() == data
    # Once A is done, B may terminate it.
    assert b.delete(url, headers=auth).status_code == 204
    assert a.head(url, headers=auth).status_code == 404

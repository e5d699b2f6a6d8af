"""tus resumable uploads against a real uvicorn server, driven by the reference tuspy client."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import httpx
import pytest
from tusclient import client as tus
from tusclient.exceptions import TusCommunicationError, TusUploadFailed

from origin.app import build_app
from origin.catalog import QUEUED, Catalog
from origin.config import OriginConfig, UploadSettings
from origin.jobs import JobQueue

from .servers import bearer, login, origin_config, serving

TUS = {"Tus-Resumable": "1.0.0"}


@pytest.fixture
def config(tmp_path: Path) -> OriginConfig:
    return origin_config(tmp_path, uploads=UploadSettings(max_size=50 * 1024 * 1024))


@pytest.fixture
def client(config: OriginConfig) -> Iterator[httpx.Client]:
    with serving(build_app(config)) as c:
        yield c


@pytest.fixture
def stack() -> Iterator[contextlib.ExitStack]:
    with contextlib.ExitStack() as s:
        yield s


@pytest.fixture
def creator(client: httpx.Client) -> str:
    return login(client, "creator1", "creator")


def tus_client(client: httpx.Client, token: str) -> tus.TusClient:
    return tus.TusClient(f"{client.base_url}/v1/uploads", headers=bearer(token))


def opened(path: Path) -> BinaryIO:
    """tuspy leaks the files it opens itself, so tests hand it streams they close."""
    return open(path, "rb")  # noqa: SIM115 - closed by the caller's with-block


def leftovers(config: OriginConfig) -> list[str]:
    return sorted(p.name for p in config.uploads_dir.iterdir()) if config.uploads_dir.exists() else []


def test_options_advertise_the_protocol(client: httpx.Client, config: OriginConfig) -> None:
    response = client.options("/v1/uploads")
    assert response.status_code == 204
    assert response.headers["tus-resumable"] == "1.0.0" and response.headers["tus-version"] == "1.0.0"
    assert set(response.headers["tus-extension"].split(",")) == {"creation", "termination", "checksum"}
    assert response.headers["tus-max-size"] == str(config.uploads.max_size)
    assert "sha1" in response.headers["tus-checksum-algorithm"].split(",")


def test_roles_and_protocol_version(client: httpx.Client, creator: str) -> None:
    create = {**TUS, "Upload-Length": "10"}
    anonymous = client.post("/v1/uploads", headers=create)
    assert anonymous.status_code == 401 and anonymous.json()["error"]["status"] == 401
    viewer = login(client, "viewer1", "viewer")
    refused = client.post("/v1/uploads", headers={**create, **bearer(viewer)})
    assert refused.status_code == 403 and refused.headers["content-type"] == "application/json"
    assert "creator" in refused.json()["error"]["message"]
    old = client.post("/v1/uploads", headers={"Upload-Length": "10", **bearer(creator)})
    assert old.status_code == 412 and old.headers["tus-version"] == "1.0.0"
    too_big = client.post("/v1/uploads", headers={**TUS, "Upload-Length": str(10**12), **bearer(creator)})
    assert too_big.status_code == 413
    not_a_number = client.post("/v1/uploads", headers={**TUS, "Upload-Length": "x", **bearer(creator)})
    assert not_a_number.status_code == 400


def test_tuspy_upload_with_checksums_queues_a_title(client: httpx.Client, config: OriginConfig, creator: str,
                                                    clip_360: Path, stack: contextlib.ExitStack) -> None:
    fh = stack.enter_context(opened(clip_360))
    uploader = tus_client(client, creator).uploader(
        file_stream=fh, chunk_size=64 * 1024, upload_checksum=True,
        metadata={"filename": "my clip.mp4", "title": "My Clip", "description": "A test pattern with a tone",
                  "tags": "Test, Pattern", "cast": "Ann Example, Bob Example", "release_date": "2024-05-01"})
    uploader.upload()
    url = uploader.url
    assert url is not None
    head = client.head(url, headers={**TUS, **bearer(creator)})
    assert head.status_code == 200 and head.headers["upload-offset"] == str(clip_360.stat().st_size)
    title = head.headers["x-streamfleet-title"]
    assert title == "my-clip"
    source = config.sources_dir / f"{title}.src"
    assert source.read_bytes() == clip_360.read_bytes()
    assert leftovers(config) == [f"{url.rsplit('/', 1)[1]}.json"]  # the record only, no data
    with Catalog(config.catalog_path) as cat:
        assert cat.get_title(title).status == QUEUED
        meta = cat.meta(title)
    assert meta.tags == ("test", "pattern") and meta.cast == ("Ann Example", "Bob Example")
    assert meta.release_date == "2024-05-01" and meta.description.startswith("A test pattern")
    queue = JobQueue(config.jobs_path)
    try:
        assert [(j.kind, j.state) for j in queue.jobs(title)] == [("prepare", "queued")]
    finally:
        queue.close()
    # The same name again gets a fresh id.
    again = tus_client(client, creator).uploader(file_stream=fh, metadata={"title": "My Clip"})
    again.upload()
    assert again.url is not None
    second = client.head(again.url, headers={**TUS, **bearer(creator)}).headers["x-streamfleet-title"]
    assert second.startswith("my-clip-") and second != title


def abort_patch_halfway(base_url: str, path: str, token: str, data: bytes, offset: int, send: int) -> None:
    """Send a PATCH announcing all of ``data[offset:]`` but only ``send`` bytes, then drop the line."""
    host, port = base_url.removeprefix("http://").split(":")
    body = data[offset:]
    head = (f"PATCH {path} HTTP/1.1\r\nHost: {host}\r\nTus-Resumable: 1.0.0\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/offset+octet-stream\r\n"
            f"Upload-Offset: {offset}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(head + body[:send])
        time.sleep(0.2)
        sock.shutdown(socket.SHUT_RDWR)


def wait_offset(client: httpx.Client, url: str, token: str, expected: int) -> int:
    deadline = time.monotonic() + 5
    while True:
        offset = int(client.head(url, headers={**TUS, **bearer(token)}).headers["upload-offset"])
        if offset == expected or time.monotonic() > deadline:
            return offset
        time.sleep(0.02)


def test_interrupted_upload_resumes_byte_identical(client: httpx.Client, config: OriginConfig, creator: str,
                                                   clip_360: Path, stack: contextlib.ExitStack) -> None:
    data = clip_360.read_bytes()
    fh = stack.enter_context(opened(clip_360))
    uploader = tus_client(client, creator).uploader(file_stream=fh, chunk_size=32 * 1024,
                                                    metadata={"title": "Resumed"})
    uploader.upload(stop_at=3 * 32 * 1024)  # the client stops after three chunks
    url = uploader.url
    assert url is not None
    path = "/" + url.split("/", 3)[3]
    assert wait_offset(client, url, creator, 3 * 32 * 1024) == 3 * 32 * 1024
    # The connection dies in the middle of a PATCH: the bytes that arrived are kept.
    abort_patch_halfway(str(client.base_url), path, creator, data, 3 * 32 * 1024, 100_000)
    assert wait_offset(client, url, creator, 3 * 32 * 1024 + 100_000) == 3 * 32 * 1024 + 100_000
    part = config.uploads_dir / f"{path.rsplit('/', 1)[1]}.part"
    assert part.read_bytes() == data[: 3 * 32 * 1024 + 100_000]
    # A new client process resumes from the server's offset.
    resumed = tus_client(client, creator).uploader(file_stream=fh, url=url, chunk_size=256 * 1024,
                                                   upload_checksum=True)
    assert resumed.offset == 3 * 32 * 1024 + 100_000
    resumed.upload()
    title = client.head(url, headers={**TUS, **bearer(creator)}).headers["x-streamfleet-title"]
    assert (config.sources_dir / f"{title}.src").read_bytes() == data


def test_checksum_mismatch_and_offset_conflicts(client: httpx.Client, config: OriginConfig,
                                                creator: str) -> None:
    auth = {**TUS, **bearer(creator)}
    created = client.post("/v1/uploads", headers={**auth, "Upload-Length": "20"})
    assert created.status_code == 201
    url = created.headers["location"]
    patch = {**auth, "Content-Type": "application/offset+octet-stream"}
    good = base64.b64encode(hashlib.sha1(b"0123456789").digest()).decode()
    bad = client.patch(url, content=b"0123456789", headers={**patch, "Upload-Offset": "0",
                                                            "Upload-Checksum": f"sha1 {good[:-4]}AAA="})
    assert bad.status_code == 460
    assert client.head(url, headers=auth).headers["upload-offset"] == "0"
    ok = client.patch(url, content=b"0123456789", headers={**patch, "Upload-Offset": "0",
                                                           "Upload-Checksum": f"sha1 {good}"})
    assert ok.status_code == 204 and ok.headers["upload-offset"] == "10"
    assert client.patch(url, content=b"x", headers={**patch, "Upload-Offset": "0"}).status_code == 409
    assert client.patch(url, content=b"x" * 11, headers={**patch, "Upload-Offset": "10"}).status_code == 413
    wrong_type = client.patch(url, content=b"x", headers={**auth, "Upload-Offset": "10"})
    assert wrong_type.status_code == 415
    assert client.patch(url, content=b"x", headers={**patch, "Upload-Offset": "10",
                                                    "Upload-Checksum": "crc32 AAAA"}).status_code == 400
    # Another creator cannot see or touch it.
    other = login(client, "creator2", "creator")
    assert client.head(url, headers={**TUS, **bearer(other)}).status_code == 404
    assert client.delete(url, headers={**TUS, **bearer(other)}).status_code == 404
    # Termination removes everything.
    assert client.delete(url, headers=auth).status_code == 204
    assert client.head(url, headers=auth).status_code == 404
    assert leftovers(config) == []


def test_upload_that_is_not_a_video_is_refused_and_removed(client: httpx.Client, config: OriginConfig,
                                                           creator: str, tmp_path: Path,
                                                           stack: contextlib.ExitStack) -> None:
    notes = tmp_path / "notes.mp4"
    notes.write_bytes(b"this is not a video at all\n" * 1000)
    uploader = tus_client(client, creator).uploader(file_stream=stack.enter_context(opened(notes)),
                                                    metadata={"filename": "notes.mp4"})
    with pytest.raises((TusUploadFailed, TusCommunicationError)) as info:
        uploader.upload()
    assert info.value.status_code == 422
    assert b"cannot read notes.mp4: invalid data" in (info.value.response_content or b"")
    assert str(config.data_dir).encode() not in (info.value.response_content or b"")
    assert leftovers(config) == []
    assert not config.sources_dir.exists() or list(config.sources_dir.iterdir()) == []
    with Catalog(config.catalog_path) as cat:
        assert cat.list_titles() == []

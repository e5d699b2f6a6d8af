"""/s/ serving from an S3-compatible store answers exactly like serving from disk: whole objects,
single and multiple Ranges, HEAD, 416, If-Range and conditional GETs."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from origin.app import build_app
from origin.catalog import Catalog, FileInfo
from origin.config import OriginConfig
from origin.store import open_object_store
from streamfleet.addressing import make_key
from streamfleet.tokens import TokenSettings, sign

from ..scaleout.backends import s3_server
from .servers import origin_config, serving

NOW = 1_800_000_000.0
KEY = make_key("film", "360p", "seg_00000.m4s")
BODY = bytes((i * 7 + i // 251) % 256 for i in range(700_000))  # several read chunks long


def publish(config: OriginConfig) -> None:
    store = open_object_store(config.object_store_url, config.objects_dir)
    try:
        store.put_bytes(KEY, BODY)
    finally:
        store.close()
    with Catalog(config.catalog_db) as cat:
        cat.reserve_title("film", "Film")
        info = FileInfo(KEY.cache_key, len(BODY), hashlib.sha256(BODY).hexdigest())
        cat.publish_title("film", 4.0, [], [info])


@pytest.fixture
def clients(tmp_path: Path, request: pytest.FixtureRequest,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    """(an origin serving from disk, an origin serving the same title from S3)."""
    server = s3_server(request)
    for name, value in server.ACCESS.items():
        monkeypatch.setenv(name, value)
    on_disk = origin_config(tmp_path / "disk")
    on_s3 = origin_config(tmp_path / "s3", object_store_url=server.url(server.create_bucket()))
    for config in (on_disk, on_s3):
        publish(config)
    with serving(build_app(on_disk, clock=lambda: NOW)) as a, \
            serving(build_app(on_s3, clock=lambda: NOW)) as b:
        yield a, b


def parts(response: httpx.Response) -> list[tuple[str, bytes]]:
    """(Content-Range, body) of each part of a multipart/byteranges response."""
    boundary = response.headers["content-type"].split("boundary=")[1]
    chunks = response.content.split(f"--{boundary}".encode())
    assert chunks[0] == b"" and chunks[-1] == b"--"
    out = []
    for chunk in chunks[1:-1]:
        head, _, body = chunk.partition(b"\r\n\r\n")
        found = re.search(rb"Content-Range: (bytes [0-9-]+/[0-9]+)", head)
        assert found and body.endswith(b"\r\n")
        out.append((found.group(1).decode(), body[:-2]))
    return out


REQUESTS = [{}, {"Range": "bytes=0-99"}, {"Range": "bytes=-10"}, {"Range": "bytes=699990-"},
            {"Range": "bytes=262140-262150"}, {"Range": f"bytes=5-{10**9}"}, {"Range": "bytes=700000-"},
            {"Range": "bytes=abc"}, {"Range": "bytes=0-9", "If-Range": '"0000"'}]


def test_s3_serving_matches_disk_serving(clients: tuple[httpx.Client, httpx.Client]) -> None:
    disk, s3 = clients
    path = KEY.signed_path(sign(TokenSettings().keyring(), "film", int(NOW) + 60))
    for headers in REQUESTS:
        a, b = disk.get(path, headers=headers), s3.get(path, headers=headers)
        assert (a.status_code, a.content) == (b.status_code, b.content), headers
        for name in ("content-range", "content-length", "etag", "content-type", "accept-ranges"):
            assert a.headers.get(name) == b.headers.get(name), (headers, name)
    whole = s3.get(path)
    assert whole.status_code == 200 and whole.content == BODY
    etag = whole.headers["etag"]
    assert s3.get(path, headers={"Range": "bytes=0-9", "If-Range": etag}).content == BODY[:10]
    assert s3.get(path, headers={"If-None-Match": etag}).status_code == 304

    multi = {"Range": "bytes=0-9,300000-300009,-5"}
    a, b = disk.get(path, headers=multi), s3.get(path, headers=multi)
    assert a.status_code == b.status_code == 206
    assert parts(a) == parts(b) == [("bytes 0-9/700000", BODY[:10]), ("bytes 300000-300009/700000",
                                                                       BODY[300000:300010]),
                                    ("bytes 699995-699999/700000", BODY[-5:])]
    assert int(b.headers["content-length"]) == len(b.content)

    for headers in ({}, {"Range": "bytes=10-19"}, {"Range": "bytes=0-1,5-6"}):
        a, b = disk.head(path, headers=headers), s3.head(path, headers=headers)
        assert b.content == b"" and a.status_code == b.status_code
        if "," not in headers.get("Range", ""):
            assert a.headers["content-length"] == b.headers["content-length"]
    assert s3.get("/healthz").json()["status"] == "ok"


def test_catalogued_object_missing_from_s3_is_404(clients: tuple[httpx.Client, httpx.Client]) -> None:
    _, s3 = clients
    token = sign(TokenSettings().keyring(), "film", int(NOW) + 60)
    path = make_key("film", "360p", "init.mp4").signed_path(token)
    assert s3.get(path).status_code == 404

"""The origin's HTTP API, against a real `streamfleet origin serve` process on loopback."""

from __future__ import annotations

import hashlib
import http.client
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from origin.config import OriginConfig
from origin.ingest import IngestResult
from streamfleet.addressing import parse_key
from streamfleet.launcher import free_port, write_toml
from streamfleet.tokens import Keyring, TokenSettings, sign

from .conftest import TITLE

FAR_FUTURE = 4_000_000_000


@pytest.fixture(scope="module")
def origin_url(ingested: tuple[OriginConfig, IngestResult], tmp_path_factory: pytest.TempPathFactory,
               ) -> Iterator[str]:
    config, _ = ingested
    port = free_port()
    workdir = tmp_path_factory.mktemp("origin-serve")
    config_path = write_toml(workdir / "origin.toml", {"port": port, "data_dir": str(config.data_dir)})
    log = open(workdir / "origin.log", "wb")  # noqa: SIM115 - closed below
    argv = [sys.executable, "-m", "streamfleet.cli", "origin", "serve", "--config", str(config_path)]
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, (workdir / "origin.log").read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "origin did not become healthy"
            time.sleep(0.05)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        finally:
            log.close()
        assert code == 0, (workdir / "origin.log").read_text()


def keyring() -> Keyring:
    return TokenSettings().keyring()  # the default dev key, as the served config uses


def token(title: str = TITLE, expires_at: int = FAR_FUTURE) -> str:
    return sign(keyring(), title, expires_at)


def catalog_files(origin_url: str) -> dict[str, Any]:
    files: dict[str, Any] = httpx.get(f"{origin_url}/v1/titles/{TITLE}").json()["files"]
    return files


def url_of(origin_url: str, cache_key: str, tok: str | None = None) -> str:
    return origin_url + parse_key(cache_key).signed_path(tok or token())


def assert_json_error(response: httpx.Response, status: int) -> None:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"]["status"] == status and body["error"]["message"]


def test_health_and_titles(origin_url: str, ingested: tuple[OriginConfig, IngestResult]) -> None:
    _, result = ingested
    health = httpx.get(f"{origin_url}/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    titles = httpx.get(f"{origin_url}/v1/titles").json()["titles"]
    assert [(t["id"], t["name"], t["status"]) for t in titles] == [(TITLE, "Fixture Clip", "ready")]
    detail = httpx.get(f"{origin_url}/v1/titles/{TITLE}").json()
    assert detail["duration_s"] == result.duration_s
    assert detail["renditions"] == [{"name": r.name, "width": r.width, "height": r.height,
                                     "bandwidth": r.bandwidth} for r in result.renditions]
    assert len(detail["files"]) == result.files
    assert all(set(meta) == {"size", "sha256"} for meta in detail["files"].values())


def test_unknown_title_is_json_404(origin_url: str) -> None:
    assert_json_error(httpx.get(f"{origin_url}/v1/titles/no-such-title"), 404)
    assert_json_error(httpx.get(url_of(origin_url, "no-such-title/master.m3u8", token("no-such-title"))), 404)
    assert_json_error(httpx.get(url_of(origin_url, f"{TITLE}/360p/seg_00099.m4s")), 404)
    assert_json_error(httpx.get(url_of(origin_url, f"{TITLE}/1080p/index.m3u8")), 404)
    assert_json_error(httpx.get(f"{origin_url}/no/such/route"), 404)
    assert_json_error(httpx.post(f"{origin_url}/v1/titles"), 405)


def test_every_file_is_served_whole_with_its_checksum(origin_url: str) -> None:
    files = catalog_files(origin_url)
    with httpx.Client() as client:
        for cache_key, meta in files.items():
            response = client.get(url_of(origin_url, cache_key))
            assert response.status_code == 200, cache_key
            assert len(response.content) == meta["size"]
            assert hashlib.sha256(response.content).hexdigest() == meta["sha256"]
            assert response.headers["etag"] == f'"{meta["sha256"]}"'
            assert response.headers["content-type"] == parse_key(cache_key).content_type
            assert response.headers["accept-ranges"] == "bytes"
            head = client.head(url_of(origin_url, cache_key))
            assert head.status_code == 200 and head.content == b""
            assert int(head.headers["content-length"]) == meta["size"]


def test_ranges(origin_url: str) -> None:
    key = f"{TITLE}/360p/seg_00000.m4s"
    url = url_of(origin_url, key)
    whole = httpx.get(url).content
    size = len(whole)

    first = httpx.get(url, headers={"Range": "bytes=0-99"})
    assert first.status_code == 206 and first.content == whole[:100]
    assert first.headers["content-range"] == f"bytes 0-99/{size}"

    tail = httpx.get(url, headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == whole[-10:]
    rest = httpx.get(url, headers={"Range": f"bytes={size - 5}-"})
    assert rest.status_code == 206 and rest.content == whole[-5:]
    clamped = httpx.get(url, headers={"Range": f"bytes={size - 5}-{size * 2}"})
    assert clamped.status_code == 206 and clamped.content == whole[-5:]

    multi = httpx.get(url, headers={"Range": "bytes=0-9,20-29"})
    assert multi.status_code == 206
    assert multi.headers["content-type"].startswith("multipart/byteranges")
    assert whole[:10] in multi.content and whole[20:30] in multi.content

    head = httpx.head(url, headers={"Range": "bytes=10-19"})
    assert head.status_code == 206 and head.headers["content-length"] == "10" and head.content == b""

    unsatisfiable = httpx.get(url, headers={"Range": f"bytes={size}-"})
    assert_json_error(unsatisfiable, 416)
    assert unsatisfiable.headers["content-range"] == f"bytes */{size}"
    for bad in ("bytes=abc", "bytes=9-3", "bytes", "bytes=1-2-3"):
        assert_json_error(httpx.get(url, headers={"Range": bad}), 400)

    # If-Range naming another version: the whole object.
    stale = httpx.get(url, headers={"Range": "bytes=0-9", "If-Range": '"0000"'})
    assert stale.status_code == 200 and stale.content == whole
    etag = first.headers["etag"]
    fresh = httpx.get(url, headers={"Range": "bytes=0-9", "If-Range": etag})
    assert fresh.status_code == 206 and fresh.content == whole[:10]


def test_conditional_get(origin_url: str) -> None:
    url = url_of(origin_url, f"{TITLE}/master.m3u8")
    etag = httpx.get(url).headers["etag"]
    not_modified = httpx.get(url, headers={"If-None-Match": f'"abc", W/{etag}'})
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert not_modified.headers["etag"] == etag
    assert httpx.get(url, headers={"If-None-Match": '"something-else"'}).status_code == 200


@pytest.mark.parametrize(
    "make_token",
    [
        lambda: token()[:-2] + ("AA" if not token().endswith("AA") else "BB"),  # forged signature
        lambda: token(expires_at=int(time.time()) - 3600),  # expired beyond the leeway
        lambda: token("another-title"),  # signed for another title
        lambda: sign(Keyring.from_strings({"other": "x" * 32}, "other"), TITLE, FAR_FUTURE),  # unknown key
        lambda: sign(Keyring.from_strings({"dev": "y" * 32}, "dev"), TITLE, FAR_FUTURE),  # wrong key
        lambda: "garbage",
    ],
    ids=["forged", "expired", "other-title", "unknown-kid", "wrong-key", "garbage"],
)
def test_bad_tokens_are_refused(origin_url: str, make_token: Any) -> None:
    tok = make_token()
    for key in (f"{TITLE}/master.m3u8", f"{TITLE}/360p/seg_00000.m4s", "no-such-title/master.m3u8"):
        assert_json_error(httpx.get(url_of(origin_url, key, tok)), 403)


def test_token_within_leeway_is_accepted(origin_url: str) -> None:
    tok = token(expires_at=int(time.time()) - 30)  # the default leeway is 120 s
    assert httpx.get(url_of(origin_url, f"{TITLE}/master.m3u8", tok)).status_code == 200


def raw_get(origin_url: str, path: str) -> tuple[int, bytes]:
    """GET with the path sent exactly as written (no client-side normalisation)."""
    host, port = origin_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.mark.parametrize(
    "suffix",
    [
        "../../etc/passwd",
        f"{TITLE}/../../../etc/passwd",
        f"{TITLE}/360p/../../catalog.sqlite3",
        "%2e%2e/%2e%2e/etc/passwd",
        f"{TITLE}%2f..%2f..%2fcatalog.sqlite3",
        f"{TITLE}/360p/..%2f..%2f..%2fcatalog.sqlite3",
        f"{TITLE}/360p/%2e%2e%5c%2e%2e%5ccatalog.sqlite3",
        f"{TITLE}/360p/index.m3u8%00.txt",
        f"{TITLE}//360p/index.m3u8",
        "/etc/passwd",
        f"{TITLE}/360p/init.mp4/..",
    ],
)
def test_traversal_is_impossible(origin_url: str, suffix: str) -> None:
    status, body = raw_get(origin_url, f"/s/{token()}/{suffix}")
    assert status in (400, 404), body
    assert b"root:" not in body and b"SQLite format" not in body
    status, body = raw_get(origin_url, f"/s/..%2f..%2f{suffix}")
    assert status in (400, 404) and b"SQLite format" not in body


def test_metrics_count_requests_and_bytes(origin_url: str) -> None:
    key = f"{TITLE}/240p/init.mp4"
    size = catalog_files(origin_url)[key]["size"]
    before = httpx.get(f"{origin_url}/metrics").text
    assert httpx.get(url_of(origin_url, key)).status_code == 200
    text = httpx.get(f"{origin_url}/metrics").text

    def sample(body: str, series: str) -> float:
        lines = [line for line in body.splitlines() if line.startswith(series + " ")]
        values = [float(line.rsplit(" ", 1)[1]) for line in lines]
        return values[0] if values else 0.0

    bytes_key = 'origin_http_bytes_served_total{route="file"}'
    assert sample(text, bytes_key) - sample(before, bytes_key) == size
    assert 'origin_http_requests_total{method="GET",route="file",status="200"}' in text
    assert "origin_token_rejections_total" in text


def test_bad_config_is_a_one_line_error() -> None:
    env = {**os.environ, "ORIGIN_PORT": "not-a-port"}
    done = subprocess.run([sys.executable, "-m", "streamfleet.cli", "origin", "serve"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "port" in done.stderr and "Traceback" not in done.stderr

"""The appliance over real HTTP: miss then hit, tokens first, Range/HEAD/If-None-Match, health."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from streamfleet import tokens
from streamfleet.addressing import dash_key, master_key

from .support import (
    TITLE,
    ServerThread,
    StandInOrigin,
    appliance_config,
    make_title,
    running_appliance,
    segment,
    sha,
    sign,
    url_of,
)


@pytest.fixture(scope="module")
def origin() -> Iterator[tuple[StandInOrigin, str]]:
    stand_in = StandInOrigin()
    with ServerThread(stand_in.app()) as server:
        yield stand_in, server.url


@pytest.fixture
def appliance(tmp_path: Path, origin: tuple[StandInOrigin, str], server_kind: str) -> Iterator[str]:
    with running_appliance(appliance_config(tmp_path, origin[1], server=server_kind)) as url:
        yield url


def test_first_request_misses_then_hits_with_identical_bytes(
    appliance: str, origin: tuple[StandInOrigin, str], tmp_path: Path
) -> None:
    stand_in, _ = origin
    key = segment(0)
    before = stand_in.chunk_requests[key.cache_key]
    first = httpx.get(url_of(appliance, key))
    assert first.status_code == 200
    assert first.headers["x-cache"] == "MISS" and first.headers["x-served-by"] == "test-appliance"
    assert first.content == stand_in.titles[TITLE][key.cache_key]
    assert first.headers["content-type"] == "video/iso.segment"
    assert first.headers["etag"] == f'"{sha(first.content)}"'
    second = httpx.get(url_of(appliance, key))
    assert second.headers["x-cache"] == "HIT" and second.content == first.content
    assert second.headers["etag"] == first.headers["etag"]
    assert stand_in.chunk_requests[key.cache_key] == before + 1
    assert (tmp_path / "chunks" / key.relative_path).read_bytes() == first.content
    playlist = httpx.get(url_of(appliance, master_key(TITLE)))
    assert playlist.headers["content-type"].startswith("application/vnd.apple.mpegurl")


@pytest.mark.parametrize(
    "token",
    [
        "dev.2000000000." + "A" * 43,  # forged signature
        tokens.sign(tokens.TokenSettings().keyring(), TITLE, 1_000_000),  # long expired
        sign("another-title"),  # valid, but for another title
        "nokey.2000000000." + "A" * 43,  # unknown key id
    ],
    ids=["forged", "expired", "other-title", "unknown-kid"],
)
def test_bad_tokens_are_403_and_never_reach_disk_or_origin(
    tmp_path: Path, origin: tuple[StandInOrigin, str], token: str, server_kind: str
) -> None:
    stand_in, origin_url = origin
    before = stand_in.total_requests
    with running_appliance(appliance_config(tmp_path, origin_url, server=server_kind)) as url:
        response = httpx.get(url_of(url, segment(1), token))
        metrics = httpx.get(url + "/metrics").text
    assert response.status_code == 403
    assert response.json()["error"]["status"] == 403
    assert stand_in.total_requests == before, "a rejected token reached the origin"
    assert not any((tmp_path / "chunks").rglob("*.m4s"))
    assert "streamfleet_appliance_token_rejections_total 1.0" in metrics


def test_bad_paths_are_json_404(appliance: str) -> None:
    for path in ["/s/tok/../../etc/passwd", "/s/" + sign() + "/clip/480p/seg_1.m4s", "/nothing-here"]:
        response = httpx.get(appliance + path)
        assert response.status_code == 404, path
        assert response.json()["error"]["status"] == 404


def test_unknown_title_and_unknown_file_are_404(appliance: str, origin: tuple[StandInOrigin, str]) -> None:
    stand_in, _ = origin
    unknown = master_key("no-such-title")
    before = stand_in.catalog_requests["no-such-title"]
    for _ in range(3):
        response = httpx.get(url_of(appliance, unknown))
        assert response.status_code == 404 and "error" in response.json()
    assert stand_in.catalog_requests["no-such-title"] == before + 1, "unknown titles are cached briefly"
    missing = httpx.get(url_of(appliance, segment(99)))
    assert missing.status_code == 404


def test_range_head_and_if_none_match(appliance: str, origin: tuple[StandInOrigin, str]) -> None:
    stand_in, _ = origin
    key = segment(2)
    body = stand_in.titles[TITLE][key.cache_key]
    url = url_of(appliance, key)

    head = httpx.head(url)  # a cold HEAD fills the cache, sends no body
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(body)
    assert head.headers["accept-ranges"] == "bytes" and head.headers["x-cache"] == "MISS"

    part = httpx.get(url, headers={"range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == body[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(body)}"
    assert part.headers["x-cache"] == "HIT"
    suffix = httpx.get(url, headers={"range": "bytes=-10"})
    assert suffix.status_code == 206 and suffix.content == body[-10:]
    open_ended = httpx.get(url, headers={"range": f"bytes={len(body) - 5}-"})
    assert open_ended.content == body[-5:]

    unsatisfiable = httpx.get(url, headers={"range": f"bytes={len(body)}-"})
    assert unsatisfiable.status_code == 416
    assert unsatisfiable.headers["content-range"] == f"bytes */{len(body)}"
    assert unsatisfiable.json()["error"]["status"] == 416
    malformed = httpx.get(url, headers={"range": "pages=1-2"})
    assert malformed.status_code == 400 and "error" in malformed.json()

    etag = head.headers["etag"]
    assert etag == f'"{sha(body)}"'
    for inm in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        not_modified = httpx.get(url, headers={"if-none-match": inm})
        assert not_modified.status_code == 304 and not_modified.content == b"", inm
        assert not_modified.headers["etag"] == etag
    assert httpx.get(url, headers={"if-none-match": '"other"'}).status_code == 200
    # A stale If-Range means the whole file, not the range.
    stale = httpx.get(url, headers={"range": "bytes=0-9", "if-range": '"stale"'})
    assert stale.status_code == 200 and stale.content == body
    fresh = httpx.get(url, headers={"range": "bytes=0-9", "if-range": etag})
    assert fresh.status_code == 206 and fresh.content == body[:10]


def test_healthz_and_metrics(appliance: str, tmp_path: Path) -> None:
    httpx.get(url_of(appliance, segment(3)))
    httpx.get(url_of(appliance, segment(3)))
    health = httpx.get(appliance + "/healthz")
    assert health.status_code == 200
    doc = health.json()
    assert doc["status"] == "ok" and doc["appliance"] == "test-appliance" and doc["site"] == "test"
    assert doc["disk_used_bytes"] > 0
    text = httpx.get(appliance + "/metrics").text
    assert 'streamfleet_appliance_requests_total{result="hit"} 1.0' in text
    assert 'streamfleet_appliance_requests_total{result="miss"} 1.0' in text
    assert f"streamfleet_appliance_disk_used_bytes {float(doc['disk_used_bytes'])}" in text
    assert 'streamfleet_appliance_upstream_latency_seconds_count{outcome="ok"} 1.0' in text
    assert 'streamfleet_appliance_bytes_total{result="hit"}' in text
    # The store's temp directory turning into a file makes the store unwritable: 503.
    tmp_dir = tmp_path / "tmp"
    tmp_dir.rmdir()
    tmp_dir.write_bytes(b"")
    sick = httpx.get(appliance + "/healthz")
    assert sick.status_code == 503 and sick.json()["status"] == "unhealthy"
    tmp_dir.unlink()
    tmp_dir.mkdir()


def test_restarted_appliance_serves_hits_from_disk(
    tmp_path: Path, origin: tuple[StandInOrigin, str], server_kind: str
) -> None:
    stand_in, origin_url = origin
    key = segment(4)
    config = appliance_config(tmp_path, origin_url, server=server_kind)
    with running_appliance(config) as url:
        assert httpx.get(url_of(url, key)).headers["x-cache"] == "MISS"
    before = sum(stand_in.chunk_requests.values())
    with running_appliance(config) as url:
        again = httpx.get(url_of(url, key))
        assert httpx.get(url_of(url, key)).headers["x-cache"] == "HIT"
    assert again.headers["x-cache"] == "HIT"
    assert again.content == stand_in.titles[TITLE][key.cache_key]
    # The first hit after a restart reads the chunk back against the catalog (no chunk refetch),
    # so the ETag is the verified sha256 again.
    assert sum(stand_in.chunk_requests.values()) == before
    assert again.headers["etag"] == f'"{sha(again.content)}"'


def test_dash_manifest_misses_then_hits_and_survives_a_restart(tmp_path: Path, server_kind: str) -> None:
    mpd = b'<?xml version="1.0"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static"/>\n'
    stand_in = StandInOrigin(titles={TITLE: {**make_title(), dash_key(TITLE).cache_key: mpd},
                                     "old-film": make_title("old-film")})
    with ServerThread(stand_in.app()) as origin_server:
        config = appliance_config(tmp_path, origin_server.url, server=server_kind)
        with running_appliance(config) as url:
            first = httpx.get(url_of(url, dash_key(TITLE)))
            second = httpx.get(url_of(url, dash_key(TITLE)))
            # A title catalogued before DASH has no manifest: 404, and the origin is not asked for it.
            legacy = httpx.get(url_of(url, dash_key("old-film")))
        with running_appliance(config) as url:
            # The store's start-up scan knows the title-level file: still a hit.
            third = httpx.get(url_of(url, dash_key(TITLE)))
    assert [r.headers["x-cache"] for r in (first, second, third)] == ["MISS", "HIT", "HIT"]
    for response in (first, second, third):
        assert response.status_code == 200 and response.content == mpd
        assert response.headers["content-type"].startswith("application/dash+xml")
    assert stand_in.chunk_requests[dash_key(TITLE).cache_key] == 1
    assert (tmp_path / "chunks" / TITLE / "manifest.mpd").read_bytes() == mpd
    assert legacy.status_code == 404 and legacy.json()["error"]["status"] == 404
    assert stand_in.chunk_requests[dash_key("old-film").cache_key] == 0

"""Miss path: site peer first (by the shared placement), then the origin; streaming the first viewer."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from appliance.peers import PeerDirectory, SiteMember
from streamfleet.placement import Member, Placement

from .support import (
    TITLE,
    FastServerThread,
    ServerThread,
    StandInOrigin,
    appliance_config,
    fleet,
    free_port,
    segment,
    url_of,
)


def ranked(title: str, ids: list[str]) -> list[str]:
    return Placement(Member(i) for i in ids).rank(title)


def test_candidates_are_the_peers_ranked_ahead_of_this_appliance() -> None:
    ids = [f"a{n}" for n in range(6)]
    order = ranked(TITLE, ids)
    me = order[3]
    peers = PeerDirectory(me, "east", {i: f"http://{i}:1" for i in ids}, max_candidates=2)
    assert [p.id for p in peers.candidates(TITLE)] == order[:2]
    first = PeerDirectory(order[0], "east", {i: f"http://{i}:1" for i in ids})
    assert first.candidates(TITLE) == [], "the appliance placement picked goes to the origin"
    # Fleet state replaces the static list: other sites are ignored, down peers skipped.
    members = [SiteMember(i, "east", f"http://{i}:2", up=i != order[0]) for i in ids]
    members.append(SiteMember("far", "west", "http://far:2"))
    peers.update_from_fleet(members)
    assert "far" not in peers.member_ids
    assert [p.url for p in peers.candidates(TITLE)] == [f"http://{order[1]}:2", f"http://{order[2]}:2"]


@contextmanager
def site(tmp_path: Path, origin_url: str, ids: list[str], **overrides: object) -> Iterator[dict[str, str]]:
    """Appliances of one site that know each other through static ``peers``; yields id -> URL."""
    listeners = {i: socket.create_server(("127.0.0.1", 0)) for i in ids}
    urls = {i: f"http://127.0.0.1:{s.getsockname()[1]}" for i, s in listeners.items()}
    with ExitStack() as stack:
        for i in ids:
            config = appliance_config(tmp_path / i, origin_url, id=i, peers=urls, **overrides)
            stack.enter_context(FastServerThread(config, listener=listeners[i]))
        yield urls


def metric(url: str, line: str) -> bool:
    return line in httpx.get(url + "/metrics").text


def test_miss_is_filled_from_the_peer_placement_picked_which_fills_from_the_origin(tmp_path: Path) -> None:
    origin = StandInOrigin()
    key = segment(0)
    holder, asker = ranked(TITLE, ["a", "b"])
    with ServerThread(origin.app()) as origin_server, site(tmp_path, origin_server.url, ["a", "b"]) as urls:
        response = httpx.get(url_of(urls[asker], key))
        assert response.status_code == 200 and response.headers["x-cache"] == "MISS"
        assert response.content == origin.titles[TITLE][key.cache_key]
        assert origin.chunk_requests[key.cache_key] == 1, "exactly one origin fetch for the site"
        assert metric(urls[asker], 'streamfleet_appliance_requests_total{result="peer_fill"} 1.0')
        assert metric(urls[holder], "streamfleet_appliance_peer_requests_total 1.0")
        assert metric(urls[holder], 'streamfleet_appliance_requests_total{result="miss"} 1.0')
        assert httpx.get(url_of(urls[holder], key)).headers["x-cache"] == "HIT"
        assert httpx.get(url_of(urls[asker], key)).headers["x-cache"] == "HIT"
        # The holder asked for a title placed on itself goes straight to the origin.
        other = segment(1)
        assert httpx.get(url_of(urls[holder], other)).status_code == 200
        assert metric(urls[holder], 'streamfleet_appliance_requests_total{result="peer_fill"} 0.0')


def ghost_ahead_of(me: str) -> str:
    """A peer id placement ranks ahead of ``me`` for TITLE."""
    for n in range(100):
        ghost = f"ghost-{n}"
        if ranked(TITLE, [me, ghost])[0] == ghost:
            return ghost
    raise AssertionError("no ghost ranks first")


def test_dead_peer_is_skipped_fast(tmp_path: Path) -> None:
    ghost = ghost_ahead_of("test-appliance")
    peers = {ghost: f"http://127.0.0.1:{free_port()}"}
    with fleet(tmp_path, peers=peers) as (appliance, _):
        started = time.monotonic()
        response = httpx.get(url_of(appliance, segment(2)))
        assert response.status_code == 200 and time.monotonic() - started < 1.0
        assert metric(appliance, 'streamfleet_appliance_requests_total{result="miss"} 1.0')
        assert metric(appliance, 'upstream_attempt_seconds_count{outcome="error",upstream="peer"} 1.0')


def test_stalled_peer_times_out_and_the_origin_answers_within_the_timeout(tmp_path: Path) -> None:
    ghost = ghost_ahead_of("test-appliance")
    with socket.create_server(("127.0.0.1", 0)) as stalled:  # accepts (backlog), never answers
        peers = {ghost: f"http://127.0.0.1:{stalled.getsockname()[1]}"}
        with fleet(tmp_path, peers=peers, peer_timeout_s=0.3) as (appliance, _):
            started = time.monotonic()
            response = httpx.get(url_of(appliance, segment(3)), timeout=10)
            elapsed = time.monotonic() - started
            assert response.status_code == 200 and 0.3 <= elapsed < 1.5
            assert metric(appliance, 'upstream_attempt_seconds_count{outcome="timeout",upstream="peer"} 1.0')


def test_first_viewer_gets_bytes_before_the_fill_completes(tmp_path: Path) -> None:
    origin = StandInOrigin(trickle_s=0.8)
    key = segment(4)
    expected = origin.titles[TITLE][key.cache_key]
    with fleet(tmp_path, origin) as (appliance, _):
        started = time.monotonic()
        with httpx.stream("GET", url_of(appliance, key), timeout=10) as response:
            chunks = response.iter_bytes()
            first = next(chunks)
            first_at = time.monotonic() - started
            body = first + b"".join(chunks)
        assert response.headers["x-cache"] == "MISS" and body == expected
        assert first_at < 0.6, "the first half should stream before the origin sends the rest"
        assert httpx.get(url_of(appliance, key)).headers["x-cache"] == "HIT"

"""The fast server over raw sockets: keep-alive, pipelining, hard limits, hand-off, shutdown."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from appliance.fastpath import FastServer

from ..logcapture import captured_access_lines
from .support import (
    TITLE,
    FastServerThread,
    ServerThread,
    StandInOrigin,
    appliance_config,
    running_appliance,
    segment,
    url_of,
)


@pytest.fixture(scope="module")
def origin() -> Iterator[tuple[StandInOrigin, str]]:
    stand_in = StandInOrigin()
    with ServerThread(stand_in.app()) as server:
        yield stand_in, server.url


def read_response(sock: socket.socket, buffered: bytearray) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length body from ``sock`` (extra bytes stay buffered)."""
    while b"\r\n\r\n" not in buffered:
        data = sock.recv(65536)
        assert data, "connection closed before a full head"
        buffered += data
    end = buffered.index(b"\r\n\r\n")
    lines = bytes(buffered[:end]).decode("latin-1").split("\r\n")
    del buffered[: end + 4]
    status = int(lines[0].split(" ")[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(buffered) < length:
        data = sock.recv(65536)
        assert data, "connection closed mid-body"
        buffered += data
    body = bytes(buffered[:length])
    del buffered[:length]
    return status, headers, body


def test_keep_alive_and_pipelined_requests_on_one_connection(
    tmp_path: Path, origin: tuple[StandInOrigin, str]
) -> None:
    stand_in, origin_url = origin
    key = segment(0)
    body = stand_in.titles[TITLE][key.cache_key]
    with FastServerThread(appliance_config(tmp_path, origin_url, hit_threads=1)) as server:
        url = url_of(server.url, key)
        assert httpx.get(url).headers["x-cache"] == "MISS"  # the miss goes through the ASGI app
        path = url.removeprefix(server.url)
        with socket.create_connection(("127.0.0.1", server.server.port)) as sock:
            requests = (
                f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"
                f"GET {path} HTTP/1.1\r\nHost: x\r\nRange: bytes=10-19\r\n\r\n"
                f"HEAD {path} HTTP/1.1\r\nHost: x\r\n\r\n"
                "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            )
            sock.sendall(requests.encode())
            buffered = bytearray()
            full = read_response(sock, buffered)
            assert full[0] == 200 and full[2] == body and full[1]["x-cache"] == "HIT"
            part = read_response(sock, buffered)
            assert part[0] == 206 and part[2] == body[10:20]
            assert part[1]["content-range"] == f"bytes 10-19/{len(body)}"
            # HEAD: the headers of a GET, no body (so the next response follows directly).
            buffered_head = bytearray(buffered)
            status, headers, _ = read_response_head_only(sock, buffered_head)
            assert status == 200 and int(headers["content-length"]) == len(body)
            health = read_response(sock, buffered_head)
            assert health[0] == 200 and b'"status":"ok"' in health[2].replace(b" ", b"")
            last = read_response(sock, buffered_head)
            assert last[0] == 200 and last[1]["connection"] == "close"
            assert sock.recv(1) == b"", "Connection: close must close"
        assert sum(loop.fast_hits for loop in server.server.loops) >= 3
        metrics = httpx.get(server.url + "/metrics").text
    assert 'streamfleet_appliance_requests_total{result="hit"} 4.0' in metrics
    assert 'streamfleet_appliance_requests_total{result="miss"} 1.0' in metrics


def read_response_head_only(sock: socket.socket, buffered: bytearray) -> tuple[int, dict[str, str], bytes]:
    while b"\r\n\r\n" not in buffered:
        buffered += sock.recv(65536)
    end = buffered.index(b"\r\n\r\n")
    lines = bytes(buffered[:end]).decode("latin-1").split("\r\n")
    del buffered[: end + 4]
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split(" ")[1]), headers, b""


@pytest.mark.parametrize("server_kind", ["fast", "uvicorn"])
def test_huge_or_malformed_heads_are_4xx_never_5xx(
    tmp_path: Path, origin: tuple[StandInOrigin, str], server_kind: str
) -> None:
    config = appliance_config(tmp_path, origin[1], server=server_kind)
    with running_appliance(config) as url:
        huge = httpx.get(url + "/healthz", headers={"x-big": "a" * 40_000})
        many = httpx.get(url + "/healthz", headers=[(f"x-{n}", "v") for n in range(300)])
        assert huge.status_code < 500 and many.status_code < 500  # uvicorn (h11) may accept them
        if server_kind == "fast":
            assert many.status_code == 431
            assert huge.status_code == 431 and huge.json()["error"]["status"] == 431
            port = int(url.rsplit(":", 1)[1])
            malformed = (b"GARBAGE\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"GET /x HTTP/1.1\r\nbad\r\n\r\n")
            for raw in malformed:
                with socket.create_connection(("127.0.0.1", port)) as sock:
                    sock.sendall(raw)
                    status, _, _ = read_response(sock, bytearray())
                    assert status in (400, 505), raw
        assert httpx.get(url + "/healthz").status_code == 200, "the appliance survived"


def test_token_rejections_and_hits_are_counted_across_loops(
    tmp_path: Path, origin: tuple[StandInOrigin, str]
) -> None:
    key = segment(1)
    with FastServerThread(appliance_config(tmp_path, origin[1], hit_threads=2)) as server:
        httpx.get(url_of(server.url, key))
        for _ in range(6):  # new connections are dealt round-robin over the three loops
            assert httpx.get(url_of(server.url, key)).headers["x-cache"] == "HIT"
            assert httpx.get(url_of(server.url, key, "dev.1.x")).status_code == 403
        assert all(loop.fast_hits >= 1 for loop in server.server.loops)
        text = httpx.get(server.url + "/metrics").text
    assert 'streamfleet_appliance_requests_total{result="hit"} 6.0' in text
    assert "streamfleet_appliance_token_rejections_total 6.0" in text


def test_graceful_stop_finishes_the_response_in_flight(tmp_path: Path) -> None:
    origin = StandInOrigin(delay_s=0.5)
    with ServerThread(origin.app()) as origin_server:
        server = FastServerThread(appliance_config(tmp_path, origin_server.url), graceful_s=5)
        with server:
            url = url_of(server.url, segment(2))
            with httpx.Client() as client:
                pending = client.build_request("GET", url, headers={"range": "bytes=0-9"})
                result: list[httpx.Response] = []
                thread = threading.Thread(target=lambda: result.append(client.send(pending)))
                thread.start()
                time.sleep(0.2)
                server.server.request_stop()
                thread.join(5)
        assert result and result[0].status_code == 206 and len(result[0].content) == 10
    assert isinstance(server.server, FastServer)


@pytest.fixture
def access_lines() -> Iterator[list[dict[str, Any]]]:
    with captured_access_lines("appliance") as captured:
        yield captured


def test_misses_are_access_logged_and_fast_hits_sampled(
    tmp_path: Path, origin: tuple[StandInOrigin, str], access_lines: list[dict[str, Any]]
) -> None:
    key = segment(2)
    config = appliance_config(tmp_path, origin[1], hit_threads=0, access_log_hit_sample=3)
    with FastServerThread(config) as server:
        url = url_of(server.url, key)
        assert httpx.get(url, headers={"X-Request-Id": "miss-1"}).headers["x-cache"] == "MISS"
        for n in range(7):
            assert httpx.get(url, headers={"X-Request-Id": f"hit-{n}"}).headers["x-cache"] == "HIT"
        assert sum(loop.fast_hits for loop in server.server.loops) == 7
    lines = [line for line in access_lines if line["path"].startswith("/s/")]
    token = url.removeprefix(server.url).split("/")[2]
    assert [(line["request_id"], line["status"]) for line in lines] == [
        ("miss-1", 200), ("hit-2", 200), ("hit-5", 200)]
    assert all(line["path"] == "/s/-/" + key.cache_key and token not in str(line) for line in lines)
    assert all(line["bytes"] == len(origin[0].titles[TITLE][key.cache_key]) for line in lines)


def test_fast_hits_are_not_logged_when_sampling_is_off(
    tmp_path: Path, origin: tuple[StandInOrigin, str], access_lines: list[dict[str, Any]]
) -> None:
    key = segment(3)
    config = appliance_config(tmp_path, origin[1], hit_threads=0, access_log_hit_sample=0)
    with FastServerThread(config) as server:
        for _ in range(3):
            httpx.get(url_of(server.url, key))
    assert [line["status"] for line in access_lines if line["path"].startswith("/s/")] == [200]

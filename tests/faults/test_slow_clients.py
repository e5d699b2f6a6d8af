"""Slow and oversized clients cannot hold the appliance's or steering's connections forever.

Slowloris (a request head one byte at a time), a silent connection, a body one byte at a time,
a client that never reads its response, and oversized heads and bodies. Timeouts are shortened
here (2 s); the defaults are 10 s for heads and bodies, 15 s idle, 60 s without send progress.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from streamfleet.addressing import make_key, segment_name
from streamfleet.launcher import free_port

from .procs import SOLO_STEERING, SoloAppliance, served, wait_until
from .slowclient import closed_by_peer, silent, trickle
from .standins import StandInOrigin, make_title, sign

pytestmark = pytest.mark.e2e

TIMEOUT_S = 2.0
# The appliance sweeps once a second; uvicorn's timers are exact.
SLACK_S = 2.0
TITLE = "slow-clients"
FILES = make_title(TITLE, segments=2, segment_bytes=8_000_000)
BIG = make_key(TITLE, "480p", segment_name(1))


@pytest.fixture(scope="module")
def appliance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoloAppliance]:
    with StandInOrigin({TITLE: FILES}) as origin, SoloAppliance(
        tmp_path_factory.mktemp("slow"), origin.url, keepalive_timeout_s=TIMEOUT_S,
        header_timeout_s=TIMEOUT_S, send_timeout_s=TIMEOUT_S,
    ) as appliance:  # fmt: skip
        yield appliance


@pytest.fixture(scope="module")
def steering(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    with served(tmp_path_factory.mktemp("steering"), "steering", port, {
        **SOLO_STEERING, "port": port, "control_plane": f"127.0.0.1:{free_port()}",
        "origin_url": f"http://127.0.0.1:{free_port()}",
        "http": {"request_timeout_seconds": TIMEOUT_S, "keepalive_timeout_seconds": TIMEOUT_S},
    }) as url:  # fmt: skip
        yield url


def base_url(server: str, request: pytest.FixtureRequest) -> str:
    if server == "appliance":
        appliance: SoloAppliance = request.getfixturevalue("appliance")
        return appliance.url
    steering: str = request.getfixturevalue("steering")
    return steering


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def slowloris_head(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nhost: x\r\nuser-agent: {'slow' * 30}\r\n\r\n".encode()


def assert_hung_up_in_time(seconds: float) -> None:
    assert TIMEOUT_S * 0.9 < seconds < TIMEOUT_S + SLACK_S, seconds


@pytest.mark.parametrize("server", ["appliance", "steering"])
def test_slowloris_head_is_cut_off(server: str, request: pytest.FixtureRequest) -> None:
    url = base_url(server, request)
    head = slowloris_head(KEY_PATH if server == "appliance" else "/healthz")
    seconds, sent, _ = trickle(port_of(url), head, interval_s=0.1, limit_s=TIMEOUT_S * 4)
    assert sent < len(head), "the whole head went through: trickle was too fast to test anything"
    assert_hung_up_in_time(seconds)


@pytest.mark.parametrize("server", ["appliance", "steering"])
def test_silent_connection_is_closed(server: str, request: pytest.FixtureRequest) -> None:
    url = base_url(server, request)
    assert_hung_up_in_time(silent(port_of(url), TIMEOUT_S * 4))


@pytest.mark.parametrize("server", ["appliance", "steering"])
def test_slow_body_is_cut_off(server: str, request: pytest.FixtureRequest) -> None:
    url = base_url(server, request)
    path = "/admin/drain" if server == "appliance" else "/v1/playback"
    body = b'{"title": "' + b"t" * 60 + b'"}'
    head = f"POST {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {len(body)}\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", port_of(url)), timeout=5) as sock:
        sock.sendall(head)
        started = time.monotonic()
        sent = 0
        while sent < len(body) and not closed_by_peer(sock):
            try:
                sock.send(body[sent : sent + 1])
            except OSError:
                break
            sent += 1
            time.sleep(0.1)
        seconds = time.monotonic() - started
    assert sent < len(body)
    assert_hung_up_in_time(seconds)


def test_many_slowloris_connections_do_not_stop_service(appliance: SoloAppliance, steering: str) -> None:
    socks = []
    try:
        for url in (appliance.url, steering):
            for _ in range(150):
                sock = socket.create_connection(("127.0.0.1", port_of(url)), timeout=5)
                sock.send(b"GET /s/")
                socks.append(sock)
        started = time.monotonic()
        assert appliance.get(make_key(TITLE, "480p", "init.mp4"), sign(TITLE)).status_code == 200
        assert httpx.get(f"{steering}/healthz", timeout=5).status_code == 200
        assert time.monotonic() - started < 1.0
        wait_until(lambda: all(closed_by_peer(s) for s in socks), TIMEOUT_S + SLACK_S + 1,
                   "every slowloris connection to be closed")
    finally:
        for sock in socks:
            sock.close()


def test_a_client_that_never_reads_is_dropped(appliance: SoloAppliance) -> None:
    token = sign(TITLE)
    assert len(appliance.get(BIG, token).content) == len(FILES[BIG.cache_key])  # stored: a sendfile hit
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", appliance.port))
        sock.sendall(f"GET {BIG.signed_path(token)} HTTP/1.1\r\nhost: x\r\n\r\n".encode())
        time.sleep(TIMEOUT_S + SLACK_S + 0.5)  # never reading meanwhile
        sock.settimeout(5)
        received = 0
        try:
            while data := sock.recv(1 << 20):
                received += len(data)
        except OSError:
            pass
    assert 0 < received < len(FILES[BIG.cache_key])


@pytest.mark.parametrize("server", ["appliance", "steering"])
def test_oversized_heads_and_bodies_are_refused(server: str, request: pytest.FixtureRequest) -> None:
    url = base_url(server, request)
    huge = httpx.get(f"{url}/healthz", headers={"x-pad": "a" * 64_000}, timeout=5)
    assert huge.status_code == 431
    many = httpx.get(f"{url}/healthz", headers={f"x-h{i}": "b" * 100 for i in range(300)}, timeout=5)
    assert many.status_code == 431
    path = "/admin/drain" if server == "appliance" else "/v1/playback"
    big = httpx.post(f"{url}{path}", content=b"{" + b" " * 2_000_000 + b"}", timeout=10)
    assert big.status_code == 413
    assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200


KEY_PATH = make_key(TITLE, "480p", segment_name(0)).signed_path("dev.9999999999." + "A" * 43)

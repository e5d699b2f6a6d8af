"""Every uvicorn-served HTTP port runs the kernel's guarded protocol with its service's ``[http]``
limits: the origin, the control plane's HTTP API, steering, and the appliance in uvicorn mode.

Real processes on loopback, raw sockets: a trickled head gets a 408 and is closed within the
deadline (2 s here), a huge head a 431; oversize JSON bodies get a 413 and malformed ones a 400 on
every JSON endpoint of the origin and the control plane; a tus upload that is slow but keeps
coming outlives the deadline while a stalled one is cut, keeping what arrived.
"""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from streamfleet.launcher import free_port

from .origin_proc import SoloOrigin
from .procs import SOLO_STEERING, SoloAppliance, served
from .slowclient import closed_by_peer, trickle
from .standins import StandInOrigin, make_title

pytestmark = pytest.mark.e2e

TIMEOUT_S = 2.0
SLACK_S = 1.0
HTTP = {"request_timeout_seconds": TIMEOUT_S, "body_idle_timeout_seconds": TIMEOUT_S}
OPERATOR_TOKEN = "guard-operator-token"
CREATOR = "guard-creator"


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoloOrigin]:
    origin = SoloOrigin(tmp_path_factory.mktemp("guard-origin"), http=HTTP)
    origin.account(CREATOR, "creator")
    with origin:
        yield origin


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("guard-control-plane")
    port = free_port()
    with served(workdir, "control-plane", port, {
        "host": "127.0.0.1", "grpc_port": free_port(), "http_port": port,
        "db_path": workdir / "registry.sqlite3", "operator_token": OPERATOR_TOKEN, "http": HTTP,
    }) as url:  # fmt: skip
        yield url


@pytest.fixture(scope="module")
def steering(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    with served(tmp_path_factory.mktemp("guard-steering"), "steering", port, {
        **SOLO_STEERING, "port": port, "control_plane": f"127.0.0.1:{free_port()}",
        "origin_url": f"http://127.0.0.1:{free_port()}", "http": HTTP,
    }) as url:  # fmt: skip
        yield url


@pytest.fixture(scope="module")
def appliance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with StandInOrigin({"guarded": make_title("guarded", segments=1)}) as standin, SoloAppliance(
        tmp_path_factory.mktemp("guard-appliance"), standin.url, server="uvicorn", header_timeout_s=TIMEOUT_S,
    ) as solo:  # fmt: skip
        yield solo.url


SERVICES = ["origin", "control_plane", "steering", "appliance"]


def _url(service: str, request: pytest.FixtureRequest) -> str:
    value = request.getfixturevalue(service)
    return value.url if isinstance(value, SoloOrigin) else str(value)


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


@pytest.mark.parametrize("service", SERVICES)
def test_a_trickled_head_gets_408_within_the_deadline(service: str, request: pytest.FixtureRequest) -> None:
    head = b"GET /healthz HTTP/1.1\r\nhost: x\r\nuser-agent: " + b"slow" * 30 + b"\r\n\r\n"
    port = _port(_url(service, request))
    seconds, sent, answer = trickle(port, head, interval_s=0.1, limit_s=TIMEOUT_S * 4)
    assert sent < len(head), "the whole head went through: the trickle was too fast to test anything"
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:100]
    assert TIMEOUT_S * 0.9 < seconds < TIMEOUT_S + SLACK_S, seconds


@pytest.mark.parametrize("service", SERVICES)
def test_a_huge_head_gets_431_and_service_goes_on(service: str, request: pytest.FixtureRequest) -> None:
    url = _url(service, request)
    huge = httpx.get(f"{url}/healthz", headers={"x-pad": "a" * 64_000}, timeout=5)
    assert huge.status_code == 431
    assert huge.json()["error"]["status"] == 431
    many = httpx.get(f"{url}/healthz", headers={f"x-h{i}": "b" * 100 for i in range(300)}, timeout=5)
    assert many.status_code == 431
    assert httpx.get(f"{url}/healthz", timeout=5).status_code in (200, 503)


def _json_endpoints(service: str) -> list[tuple[str, str, dict[str, str]]]:
    if service == "origin":
        return [("POST", "/v1/accounts", {}), ("POST", "/v1/sessions", {})]
    operator = {"authorization": f"Bearer {OPERATOR_TOKEN}"}
    return [("POST", "/v1/popularity", {}), ("PUT", "/v1/fill/schedules/ams", operator),
            ("POST", "/v1/fill/run-now/ams", operator)]


@pytest.mark.parametrize("service", ["origin", "control_plane"])
def test_json_too_large_is_413_and_malformed_400(service: str, request: pytest.FixtureRequest) -> None:
    url = _url(service, request)
    limit = 64 * 1024 if service == "origin" else 8 * 1024 * 1024  # max_json_body_bytes defaults
    with httpx.Client(base_url=url, timeout=30) as client:
        for method, path, headers in _json_endpoints(service):
            big = b'{"a": "' + b"x" * limit + b'"}'
            declared = client.request(method, path, content=big, headers=headers)
            assert declared.status_code == 413, (path, declared.text)
            assert declared.json()["error"]["status"] == 413
            # No Content-Length (chunked): refused once the streamed bytes pass the limit.
            streamed = client.request(method, path, content=iter([big[i:i + 65536]
                                                                  for i in range(0, len(big), 65536)]),
                                      headers=headers)
            assert streamed.status_code == 413, (path, streamed.text)
            for bad in (b"{not json", b"[1, 2]", b"\xff\xfe{", b"[" * 50_000, b'"just a string"'):
                answer = client.request(method, path, content=bad, headers=headers)
                assert answer.status_code == 400, (path, bad[:20], answer.text)
                assert answer.json()["error"]["status"] == 400


def _create_upload(origin: SoloOrigin, token: str, length: int) -> str:
    meta = f"filename {base64.b64encode(b'guard.mp4').decode()}"
    created = httpx.post(f"{origin.url}/v1/uploads", timeout=10, headers={
        "authorization": f"Bearer {token}", "tus-resumable": "1.0.0", "upload-length": str(length),
        "upload-metadata": meta})  # fmt: skip
    assert created.status_code == 201, created.text
    return str(created.headers["location"])


def _patch_head(location: str, token: str, offset: int, length: int) -> bytes:
    return (f"PATCH {location} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {token}\r\n"
            f"tus-resumable: 1.0.0\r\ncontent-type: application/offset+octet-stream\r\n"
            f"upload-offset: {offset}\r\ncontent-length: {length}\r\n\r\n").encode()


def _offset(origin: SoloOrigin, location: str, token: str) -> int:
    head = httpx.head(f"{origin.url}{location}", timeout=5,
                      headers={"authorization": f"Bearer {token}", "tus-resumable": "1.0.0"})
    return int(head.headers["upload-offset"])


def test_a_slow_upload_that_keeps_coming_outlives_the_deadline(origin: SoloOrigin) -> None:
    token = origin.login(CREATOR)
    part = 24_000  # 4.8 s at ~5 KB/s: well past the 2 s deadline, well above 1 KiB/s
    location = _create_upload(origin, token, part * 2)
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", origin.port), timeout=10) as sock:
        sock.sendall(_patch_head(location, token, 0, part))
        for _ in range(0, part, 500):
            sock.sendall(b"v" * 500)
            time.sleep(0.1)
        answer = b""
        while b"\r\n\r\n" not in answer and (data := sock.recv(65536)):
            answer += data  # a 204: the head is the whole answer
    assert time.monotonic() - started > 2 * TIMEOUT_S
    assert answer.startswith(b"HTTP/1.1 204 "), answer[:200]
    assert f"upload-offset: {part}".encode() in answer.lower()
    assert _offset(origin, location, token) == part


def test_a_stalled_upload_is_cut_and_keeps_what_arrived(origin: SoloOrigin) -> None:
    token = origin.login(CREATOR)
    sent = 40_000
    location = _create_upload(origin, token, 100_000)
    with socket.create_connection(("127.0.0.1", origin.port), timeout=10) as sock:
        sock.sendall(_patch_head(location, token, 0, 100_000) + b"s" * sent)
        started = time.monotonic()
        sock.settimeout(TIMEOUT_S * 4)
        answer = sock.recv(65536)  # nothing more is sent: the server must hang up on its own
        seconds = time.monotonic() - started
    assert answer == b""
    assert TIMEOUT_S * 0.9 < seconds < TIMEOUT_S + SLACK_S, seconds
    assert _offset(origin, location, token) == sent  # resumable from there


def test_a_trickled_upload_is_cut_at_the_deadline(origin: SoloOrigin) -> None:
    token = origin.login(CREATOR)
    location = _create_upload(origin, token, 1000)
    with socket.create_connection(("127.0.0.1", origin.port), timeout=10) as sock:
        sock.sendall(_patch_head(location, token, 0, 1000))
        started = time.monotonic()
        sent = 0
        while sent < 1000 and not closed_by_peer(sock):  # 20 B/s: earns 0.02 s a second
            try:
                sock.send(b"t")
            except OSError:
                break
            sent += 1
            time.sleep(0.05)
        seconds = time.monotonic() - started
    assert 0 < sent < 1000
    assert TIMEOUT_S * 0.9 < seconds < TIMEOUT_S + SLACK_S, seconds

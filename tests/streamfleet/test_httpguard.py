"""The guarded uvicorn protocol on a real uvicorn server over loopback sockets: slow heads get a 408,
large heads a 431, a slow but steady body goes on past the head deadline, a trickled or stalled
body is cut, and time the server itself does not read is not held against the client."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from streamfleet.httpguard import HttpSettings
from streamfleet.httpkit import uvicorn_config
from streamfleet.launcher import free_port

TIMEOUT_S = 1.0
IDLE_S = 1.0
RATE = 1000  # bytes per second that earn one more second
SLACK_S = 0.6
SETTINGS = HttpSettings(request_timeout_seconds=TIMEOUT_S, body_idle_timeout_seconds=IDLE_S,
                        min_body_bytes_per_second=RATE, keepalive_timeout_seconds=5)


def _app(disconnects: list[int]) -> Starlette:
    async def echo(request: Request) -> Response:
        if request.query_params.get("wait"):
            await asyncio.sleep(float(request.query_params["wait"]))  # not reading meanwhile
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
        except ClientDisconnect:
            disconnects.append(size)
            raise
        return JSONResponse({"received": size})

    return Starlette(routes=[Route("/echo", echo, methods=["GET", "POST"])])


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[int, list[int]]]:
    disconnects: list[int] = []
    port = free_port()
    instance = uvicorn.Server(uvicorn_config(_app(disconnects), "127.0.0.1", port, SETTINGS))
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not instance.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    try:
        yield port, disconnects
    finally:
        instance.should_exit = True
        thread.join(10)


def _read_all(sock: socket.socket, limit_s: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes; (answer, seconds it took)."""
    started = time.monotonic()
    sock.settimeout(limit_s)
    answer = b""
    with contextlib.suppress(OSError):
        while data := sock.recv(65536):
            answer += data
    return answer, time.monotonic() - started


def _post_head(length: int, path: str = "/echo") -> bytes:
    head = f"POST {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: {length}\r\n\r\n"
    return head.encode()


def _send_paced(sock: socket.socket, body: bytes, piece: int, interval_s: float) -> tuple[int, float]:
    """Send ``body`` ``piece`` bytes every ``interval_s`` until done or the server hangs up."""
    started = time.monotonic()
    sent = 0
    while sent < len(body):
        try:
            sock.sendall(body[sent : sent + piece])
        except OSError:
            break
        sent += piece
        time.sleep(interval_s)
        if _closed(sock):
            break
    return min(sent, len(body)), time.monotonic() - started


def _closed(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        data = sock.recv(65536, socket.MSG_PEEK)
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.setblocking(True)
    return data == b""


def test_a_trickled_head_gets_408_in_time(server: tuple[int, list[int]]) -> None:
    port, _ = server
    head = b"GET /echo HTTP/1.1\r\nhost: x\r\nuser-agent: " + b"s" * 200 + b"\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sent, seconds = _send_paced(sock, head, 1, 0.05)
        answer, _ = _read_all(sock, 5)
    assert sent < len(head)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert TIMEOUT_S * 0.9 < seconds < TIMEOUT_S + SLACK_S


def test_a_silent_connection_gets_408_in_time(server: tuple[int, list[int]]) -> None:
    port, _ = server
    with socket.create_connection(("127.0.0.1", port)) as sock:
        answer, seconds = _read_all(sock, 5)
    assert answer.startswith(b"HTTP/1.1 408 ") and b'"status": 408' in answer
    assert TIMEOUT_S * 0.9 < seconds < TIMEOUT_S + SLACK_S


def test_a_huge_head_gets_431(server: tuple[int, list[int]]) -> None:
    port, _ = server
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /echo HTTP/1.1\r\nhost: x\r\nx-pad: " + b"a" * 20_000 + b"\r\n\r\n")
        answer, _ = _read_all(sock, 5)
    assert answer.startswith(b"HTTP/1.1 431 ")


def test_a_slow_but_steady_body_outlives_the_head_deadline(server: tuple[int, list[int]]) -> None:
    port, _ = server
    body = b"u" * 12_000  # 3 s at 4000 B/s: four times the rate that keeps a body going
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(_post_head(len(body)))
        sent, seconds = _send_paced(sock, body, 400, 0.1)
        sock.shutdown(socket.SHUT_WR)
        answer, _ = _read_all(sock, 5)
    assert sent == len(body) and seconds > 3 * TIMEOUT_S
    assert answer.startswith(b"HTTP/1.1 200 ") and b'{"received":12000}' in answer


def test_a_trickled_body_is_cut_at_the_deadline(server: tuple[int, list[int]]) -> None:
    port, disconnects = server
    body = b"t" * 200
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(_post_head(len(body)))
        sent, seconds = _send_paced(sock, body, 2, 0.1)  # 20 B/s earns 0.02 s a second
        answer, _ = _read_all(sock, 5)
    assert sent < len(body)
    assert answer == b""  # the app was reading: it saw a disconnect, the client a closed socket
    assert TIMEOUT_S * 0.9 < seconds < TIMEOUT_S + SLACK_S
    assert disconnects and disconnects[-1] < len(body)


def test_a_stalled_body_is_cut_after_the_idle_timeout(server: tuple[int, list[int]]) -> None:
    port, _ = server
    first = b"f" * 30_000  # earns 30 s at RATE: only the idle timeout can end it
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(_post_head(len(first) + 1000) + first)
        answer, seconds = _read_all(sock, 10)
    assert answer == b""
    assert IDLE_S * 0.9 < seconds < IDLE_S + SLACK_S


def test_time_the_app_does_not_read_is_not_the_clients(server: tuple[int, list[int]]) -> None:
    port, _ = server
    body = b"p" * 400_000  # past uvicorn's 64 KiB buffer: reading pauses until the app reads
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(10)
        sock.sendall(_post_head(len(body), f"/echo?wait={TIMEOUT_S + IDLE_S + 0.5}") + body)
        answer, _ = _read_all(sock, 10)
    assert answer.startswith(b"HTTP/1.1 200 ") and b'{"received":400000}' in answer


def test_each_keep_alive_request_has_its_own_deadline(server: tuple[int, list[int]]) -> None:
    port, _ = server
    request = b"GET /echo HTTP/1.1\r\nhost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(5)
        sock.sendall(request)
        assert _response(sock).startswith(b"HTTP/1.1 200 ")
        time.sleep(TIMEOUT_S * 1.5)  # idle between requests: the keep-alive timeout's business
        sent, _ = _send_paced(sock, request, 4, TIMEOUT_S * 0.6 / (len(request) / 4))
        assert sent == len(request) and _response(sock).startswith(b"HTTP/1.1 200 ")


def _response(sock: socket.socket) -> bytes:
    """One whole response with a Content-Length (it may come in several pieces)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:")))
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


@pytest.mark.parametrize("field", ["request_timeout_seconds", "body_idle_timeout_seconds",
                                   "keepalive_timeout_seconds"])
@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), float("inf")])
def test_settings_refuse_unusable_timeouts(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        HttpSettings(**{field: value})  # type: ignore[arg-type]

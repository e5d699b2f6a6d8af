"""play() and the play command over real sockets: uvicorn stand-ins on free loopback ports."""

from __future__ import annotations

import asyncio
import json
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from player.cli import main
from player.session import play

from .standins import ContentServer, SteeringStandIn, asgi, free_socket, make_title, serving

TITLE = make_title(segments=6)


class _Truncating(socketserver.BaseRequestHandler):
    """Promises 1000 bytes, sends 10, hangs up."""

    def handle(self) -> None:
        self.request.recv(65536)
        self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nX-Cache: HIT\r\n\r\n0123456789")


@contextmanager
def truncating_server() -> Iterator[str]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Truncating)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_failover_over_real_sockets_dead_port_500_and_short_body() -> None:
    flaky = ContentServer("east-1", TITLE, fail_after=5)
    healthy = ContentServer("east-2", TITLE)
    origin = ContentServer(None, TITLE)
    dead = free_socket()  # bound, never listening: connection refused
    dead_url = f"http://127.0.0.1:{dead.getsockname()[1]}"
    steering = SteeringStandIn([])
    try:
        with (
            truncating_server() as truncating,
            serving([asgi(steering), asgi(flaky), asgi(healthy), asgi(origin)]) as urls,
        ):
            steering_url, flaky_url, healthy_url, origin_url = urls
            steering.bases = [
                (dead_url, "east-0"),
                (flaky_url, "east-1"),
                (truncating, "east-9"),
                (healthy_url, "east-2"),
                (origin_url, None),
            ]
            report = asyncio.run(play(steering_url, TITLE.title, origin_url=origin_url, timeout_s=5))
            assert report.ok, report.errors
            assert report.bytes_verified is True
            # dead -> east-1 (once); east-1's 500 -> truncating -> east-2 (twice more).
            assert report.failovers == 3
            assert report.segments_by_appliance == {"east-1": 2, "east-2": 4}
            assert report.requests_by_appliance == {"east-1": 5, "east-2": 4}
            assert [e.split(":")[0] for e in report.errors] == [
                "GET master.m3u8 from east-0",
                "GET 480p/seg_00002.m4s from east-1",
                "GET 480p/seg_00002.m4s from east-9",
            ]
            assert "ConnectError" in report.errors[0]
            assert "HTTP 500" in report.errors[1]
            assert "RemoteProtocolError" in report.errors[2] or "short body" in report.errors[2]
            assert (report.hits, report.misses) == (0, 9)
    finally:
        dead.close()


def test_play_command_prints_a_report_and_sets_the_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    appliance = ContentServer("east-1", TITLE)
    origin = ContentServer(None, TITLE)
    steering = SteeringStandIn([])
    with serving([asgi(steering), asgi(appliance), asgi(origin)]) as (
        steering_url,
        appliance_url,
        origin_url,
    ):
        steering.bases = [(appliance_url, "east-1"), (origin_url, None)]
        assert main([TITLE.title, "--steering", steering_url, "--origin", origin_url, "--json"]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["ok"] is True and data["segments"] == 6 and data["bytes_verified"] is True
        assert main([TITLE.title, "--steering", steering_url]) == 0
        text = capsys.readouterr().out
        assert "film: ok" in text and "east-1=6" in text and "hit ratio 1.00" in text
        tampered = ContentServer("east-1", TITLE, tamper=("film/480p/seg_00001.m4s",))
        steering.bases = [(appliance_url, "east-1")]
        appliance.tamper = tampered.tamper
        assert main([TITLE.title, "--steering", steering_url, "--origin", origin_url]) == 1
        out = capsys.readouterr().out
        assert "FAILED" in out and "bytes match origin: NO" in out
    dead = free_socket()
    try:
        assert main([TITLE.title, "--steering", f"http://127.0.0.1:{dead.getsockname()[1]}"]) == 1
        assert "steering unreachable" in capsys.readouterr().out
    finally:
        dead.close()

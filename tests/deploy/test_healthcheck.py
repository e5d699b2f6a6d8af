"""``streamfleet healthcheck URL`` against a real HTTP server on loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from streamfleet.cli import main as cli_main
from streamfleet.healthcheck import probe
from streamfleet.launcher import free_port


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        status = {"/healthz": 200, "/sick": 503, "/slow": 200}.get(self.path, 404)
        if self.path == "/slow":
            threading.Event().wait(2.0)
        body = b'{"status": "ok"}' if status == 200 else b'{"status": "unhealthy"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_200_is_healthy(base_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["healthcheck", f"{base_url}/healthz"]) == 0
    assert "healthy" in capsys.readouterr().out
    assert cli_main(["healthcheck", "--quiet", f"{base_url}/healthz"]) == 0
    assert capsys.readouterr().out == ""


def test_503_and_404_are_unhealthy(base_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["healthcheck", f"{base_url}/sick"]) == 1
    assert "HTTP 503" in capsys.readouterr().err
    assert probe(f"{base_url}/nothing", 2.0) == (False, "HTTP 404")


def test_timeout_is_unhealthy(base_url: str) -> None:
    healthy, detail = probe(f"{base_url}/slow", 0.3)
    assert not healthy and "unreachable" in detail


def test_refused_connection_is_unhealthy(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["healthcheck", "--timeout", "1", f"http://127.0.0.1:{free_port()}/healthz"]) == 1
    assert "unreachable" in capsys.readouterr().err


def test_only_http_urls(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["healthcheck", "file:///etc/passwd"]) == 1
    assert "not an http(s) URL" in capsys.readouterr().err

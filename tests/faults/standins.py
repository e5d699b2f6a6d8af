"""Stand-ins for fault tests: an origin that can stall mid-body, and a peer that accepts and says nothing.

Both are plain socket servers in threads of the test process (real TCP on 127.0.0.1), so the
appliance under test, a real process, talks to them exactly as to the real services.
"""

from __future__ import annotations

import hashlib
import json
import random
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from streamfleet import tokens
from streamfleet.addressing import AddressError, make_key, master_key, parse_signed_path, segment_name

KEYRING = tokens.TokenSettings().keyring()  # the default [tokens] section every service ships with


def sign(title: str, ttl: int = 600, keyring: tokens.Keyring = KEYRING, now: float | None = None) -> str:
    return tokens.sign(keyring, title, int(time.time() if now is None else now) + ttl)


def make_title(title: str, segments: int = 4, segment_bytes: int = 200_000) -> dict[str, bytes]:
    """Deterministic pseudo-random files of one title (one 480p rendition), by cache key."""
    rng = random.Random(title)
    files = {master_key(title).cache_key: b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=400000\n480p/index.m3u8\n"}
    media = ["#EXTM3U", "#EXT-X-TARGETDURATION:4", '#EXT-X-MAP:URI="init.mp4"']
    files[make_key(title, "480p", "init.mp4").cache_key] = rng.randbytes(1500)
    for n in range(segments):
        files[make_key(title, "480p", segment_name(n)).cache_key] = rng.randbytes(segment_bytes + n)
        media += ["#EXTINF:4.000,", segment_name(n)]
    media.append("#EXT-X-ENDLIST")
    files[make_key(title, "480p", "index.m3u8").cache_key] = ("\n".join(media) + "\n").encode()
    return files


class StandInOrigin:
    """The origin's two contract endpoints over in-memory files, with counters and fault knobs.

    ``stall_after[cache_key] = n``: send the headers and the first ``n`` body bytes, then wait
    until :meth:`release` (or shutdown) before sending the rest. ``hang``: accept requests and
    answer nothing until released. Counters are safe to read from the test thread.
    """

    def __init__(self, titles: dict[str, dict[str, bytes]], keyring: tokens.Keyring = KEYRING) -> None:
        self.titles = titles
        self.keyring = keyring
        self.stall_after: dict[str, int] = {}
        self.hang = False
        self.chunk_requests: Counter[str] = Counter()
        self.catalog_requests: Counter[str] = Counter()
        self.token_rejections = 0
        self.stalled = threading.Event()  # set when a stalled response has sent its first part
        self._release = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def total_requests(self) -> int:
        with self._lock:
            return sum(self.chunk_requests.values()) + sum(self.catalog_requests.values())

    def release(self) -> None:
        """Let stalled and hanging responses go on."""
        self._release.set()

    def __enter__(self) -> StandInOrigin:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        origin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if origin.hang:
                    origin._release.wait(60)
                if self.path.startswith("/v1/titles/"):
                    self._title(self.path.removeprefix("/v1/titles/"))
                elif self.path.startswith("/s/"):
                    self._chunk()
                elif self.path == "/healthz":
                    self._json(200, {"status": "ok"})
                else:
                    self._json(404, {"error": {"status": 404, "message": "not found"}})

            def _json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _title(self, title: str) -> None:
                with origin._lock:
                    origin.catalog_requests[title] += 1
                files = origin.titles.get(title)
                if files is None:
                    self._json(404, {"error": {"status": 404, "message": "unknown title"}})
                    return
                self._json(200, {
                    "id": title, "name": title, "status": "ready", "duration_s": 16.0,
                    "renditions": [{"name": "480p", "width": 854, "height": 480, "bandwidth": 400_000}],
                    "files": {k: {"size": len(v), "sha256": hashlib.sha256(v).hexdigest()}
                              for k, v in files.items()},
                })  # fmt: skip

            def _chunk(self) -> None:
                try:
                    token, key = parse_signed_path(self.path)
                except AddressError:
                    self._json(404, {"error": {"status": 404, "message": "not a content path"}})
                    return
                with origin._lock:
                    origin.chunk_requests[key.cache_key] += 1
                try:
                    tokens.verify(origin.keyring, token, key.title, time.time())
                except tokens.TokenError:
                    with origin._lock:
                        origin.token_rejections += 1
                    self._json(403, {"error": {"status": 403, "message": "bad token"}})
                    return
                body = origin.titles.get(key.title, {}).get(key.cache_key)
                if body is None:
                    self._json(404, {"error": {"status": 404, "message": "no such file"}})
                    return
                self.send_response(200)
                self.send_header("content-type", key.content_type)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                cut = origin.stall_after.get(key.cache_key)
                try:
                    if cut is None:
                        self.wfile.write(body)
                        return
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    origin.stalled.set()
                    origin._release.wait(60)
                    self.wfile.write(body[cut:])
                except OSError:
                    return  # the appliance went away (killed): nothing more to send

        return Handler


class SilentPeer:
    """Accepts TCP connections, reads whatever comes, and never answers (a stalled appliance)."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self._conns: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.accepted = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            self._conns.append(conn)

    def __enter__(self) -> SilentPeer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        for conn in self._conns:
            conn.close()
        self._listener.close()

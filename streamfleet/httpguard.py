"""uvicorn's httptools protocol with the limits it lacks: request deadlines and a head size cap.

uvicorn (0.3x-0.5x) times out only idle keep-alive connections *after* a response: a client
that connects and trickles a request head one byte per second (slowloris), or never sends
anything, holds its connection forever, and the httptools parser accepts heads of any size.
The protocol made by :func:`guarded_protocol` enforces :class:`HttpSettings`:

1. A head must arrive whole within ``request_timeout_seconds`` of its first byte (of the
   connection, for its first request); else a 408 and the connection is closed. Heads larger
   than ``max_header_bytes`` get a 431.
2. A body must keep up too, but an upload may legitimately take hours: its deadline starts at
   the head's and moves one second later for every ``min_body_bytes_per_second`` bytes that
   arrive, and a body from which nothing arrives for ``body_idle_timeout_seconds`` is cut
   however much came before. A cut body is a disconnect to the app reading it.
3. Time the server itself is not reading (flow control paused because the app has not read
   the last 64 KiB yet, a pipelined request waiting its turn, a client waiting for its
   ``100 Continue``) is never held against the client.
"""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass
from typing import ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


@dataclass(frozen=True)
class HttpSettings:
    """The ``[http]`` section of an HTTP service: how slow and how large a request may be."""

    # A request head must arrive whole within this many seconds of its first byte, and a new
    # connection must bring its first request as fast: slow or silent clients (slowloris) get a
    # 408 and are disconnected.
    request_timeout_seconds: float = 10.0
    # A body gets request_timeout_seconds plus one second for every this many bytes received, so
    # slow but steady uploads go on while a trickle is cut. 0: no extension (a body must arrive
    # within request_timeout_seconds, as a head must).
    min_body_bytes_per_second: int = 1024
    # A body from which nothing arrives for this many seconds is cut (the client resumes it).
    body_idle_timeout_seconds: float = 30.0
    # Request heads larger than this get a 431.
    max_header_bytes: int = 16 * 1024
    # Idle keep-alive connections are closed after this many seconds.
    keepalive_timeout_seconds: float = 15.0
    # Connections and requests at once beyond which new ones get a 503 (uvicorn's limit_concurrency).
    max_connections: int = 4096

    def __post_init__(self) -> None:
        # ValueError becomes a ConfigError naming the section at start-up.
        for name in ("request_timeout_seconds", "body_idle_timeout_seconds", "keepalive_timeout_seconds"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds")
        if self.min_body_bytes_per_second < 0:
            raise ValueError("min_body_bytes_per_second must not be negative")
        if self.max_header_bytes < 1024 or self.max_connections <= 0:
            raise ValueError("need max_header_bytes >= 1024 and max_connections > 0")


def _error(status: int, reason: str, message: str) -> bytes:
    body = json.dumps({"error": {"status": status, "message": message}}).encode()
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode() + body


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol enforcing ``settings`` (a class attribute: see :func:`guarded_protocol`).

    One timer per connection, armed while a request is arriving. Bytes only move numbers; the
    timer, when it fires, works out the real deadline and re-arms itself if that is later.
    """

    settings: ClassVar[HttpSettings] = HttpSettings()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._in_head = True
        self._head_bytes = 0
        self._timer: asyncio.TimerHandle | None = None
        # Loop times: the request's deadline (body bytes push it later), and the last body bytes.
        self._due = 0.0
        self._last_body = 0.0
        self._start_request()  # the first request must come, and come whole, in time too

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            # Bytes up to the blank line that ends a head (the body that may follow is not head).
            end = data.find(b"\r\n\r\n")
            self._head_bytes += len(data) if end < 0 else end
            if self._head_bytes > self.settings.max_header_bytes:
                self._refuse(431, "Request Header Fields Too Large", "request header fields too large")
                return
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._timer is None:
            self._start_request()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._last_body = self.loop.time()
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        rate = self.settings.min_body_bytes_per_second
        if rate:
            self._due += len(body) / rate
        self._last_body = self.loop.time()
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._stop_timer()
        self._in_head = True
        super().on_message_complete()

    def _start_request(self) -> None:
        self._due = self.loop.time() + self.settings.request_timeout_seconds
        self._timer = self.loop.call_at(self._due, self._check)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _server_is_holding(self) -> bool:
        """True while the client cannot make progress because of us, not of itself."""
        if self.flow is not None and self.flow.read_paused:
            return True
        return self.cycle is not None and self.cycle.waiting_for_100_continue and not self._in_head

    def _check(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        now = self.loop.time()
        if self._server_is_holding():
            # A fresh allowance from the moment we read again.
            self._due = max(self._due, now + self.settings.request_timeout_seconds)
            self._last_body = now
        due = self._due
        if not self._in_head:
            due = min(due, self._last_body + self.settings.body_idle_timeout_seconds)
        if now < due:
            self._timer = self.loop.call_at(due, self._check)
            return
        if self._in_head and (self.cycle is None or self.cycle.response_complete):
            self._refuse(408, "Request Timeout", "request not received in time")
        else:
            self.transport.close()  # the app may be reading the body: it sees a disconnect

    def _refuse(self, status: int, reason: str, message: str) -> None:
        self._stop_timer()
        if not self.transport.is_closing():
            self.transport.write(_error(status, reason, message))
            self.transport.close()


def guarded_protocol(settings: HttpSettings) -> type[asyncio.Protocol]:
    """A protocol class for ``uvicorn.Config(http=...)`` enforcing ``settings``."""
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), {"settings": settings})

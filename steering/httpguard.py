"""uvicorn's httptools protocol with the two limits it lacks: a request deadline and a head size.

uvicorn (0.3x-0.5x) times out only idle keep-alive connections *after* a response: a client
that connects and trickles a request head one byte per second (slowloris), or never sends
anything, holds its connection forever, and the httptools parser accepts heads of any size.
The protocol made by :func:`guarded_protocol` closes a connection whose request (head and
body) has not arrived whole within ``request_timeout_s`` of its first byte -- or of the
connection, for the first request -- and answers heads larger than ``max_head_bytes`` with a
431. Nothing here is specific to steering: it is kernel material (``streamfleet.httpkit``).
"""

from __future__ import annotations

import asyncio
import json

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def _error(status: int, reason: str, message: str) -> bytes:
    body = json.dumps({"error": {"status": status, "message": message}}).encode()
    return (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode() + body


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol plus a per-request deadline and a head size limit (class attributes)."""

    request_timeout_s = 10.0
    max_head_bytes = 16 * 1024

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._in_head = True
        self._head_bytes = 0
        self._deadline: asyncio.TimerHandle | None = None
        self._arm()  # the first request must come, and come whole, in time too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            # Bytes up to the blank line that ends a head (the body that may follow is not head).
            end = data.find(b"\r\n\r\n")
            self._head_bytes += len(data) if end < 0 else end
            if self._head_bytes > self.max_head_bytes:
                self._refuse(431, "Request Header Fields Too Large", "request header fields too large")
                return
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._in_head = True
        super().on_message_complete()

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.request_timeout_s, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:
            self._refuse(408, "Request Timeout", "request not received in time")
        else:
            self.transport.close()  # the app is reading the body: it sees a disconnect

    def _refuse(self, status: int, reason: str, message: str) -> None:
        self._disarm()
        if not self.transport.is_closing():
            self.transport.write(_error(status, reason, message))
            self.transport.close()


def guarded_protocol(request_timeout_s: float, max_head_bytes: int) -> type[asyncio.Protocol]:
    """A protocol class for ``uvicorn.Config(http=...)`` with these limits."""
    return type(
        "GuardedHttpToolsProtocol",
        (GuardedHttpToolsProtocol,),
        {"request_timeout_s": request_timeout_s, "max_head_bytes": max_head_bytes},
    )

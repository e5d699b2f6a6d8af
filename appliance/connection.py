"""Connection: one client socket of the fast server, driven by selector callbacks (no transport).

The socket is non-blocking and registered directly with the event loop's selector, so a hit
costs one ``recv``, one ``send`` (headers, MSG_MORE) and ``os.sendfile`` calls, with no
futures or tasks in between. Responses are strictly sequential per connection (HTTP/1.1
pipelining is honoured by parsing the next request only after the previous response is sent).
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import time
from collections.abc import Callable
from typing import Protocol

from .errors import BadRequest
from .httpwire import RequestHead, parse_head

_RECV_BYTES = 256 * 1024
# Buffered output above this makes the bridge's drain() wait (backpressure for slow clients).
_HIGH_WATER = 256 * 1024
# Largest request body handed to the ASGI app (admin calls only need a few bytes).
MAX_BODY_BYTES = 1024 * 1024

# Called once when a send finishes: True when every byte went out, False when the client left.
SentCallback = Callable[[bool], None]


class Dispatcher(Protocol):
    """What a connection hands complete requests to (the fast server)."""

    def dispatch(self, conn: Connection, head: RequestHead, body: bytes) -> None: ...

    def reject(self, conn: Connection, status: int, message: str) -> None: ...

    def closed(self, conn: Connection) -> None: ...


class Connection:
    """Reads requests and writes responses of one client. Event-loop thread only."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        peer: tuple[str, int],
        dispatcher: Dispatcher,
        max_head_bytes: int,
    ) -> None:
        self.loop = loop
        self.sock = sock
        self.fd = sock.fileno()
        self.peer = peer
        self.keep_alive = True
        self.busy = False
        self.closed = False
        self.last_active = time.monotonic()
        # monotonic() when the first byte of the request being received arrived (None between
        # requests): the whole request must arrive within the header timeout from then.
        self.request_since: float | None = None
        # monotonic() of the last byte sent (or of the start of the response being sent).
        self.last_sent = self.last_active
        self._dispatcher = dispatcher
        self._max_head = max_head_bytes
        self._buf = bytearray()
        self._pending: RequestHead | None = None
        self._out = bytearray()
        self._file_fd = -1
        self._file_off = 0
        self._file_left = 0
        self._on_sent: SentCallback | None = None
        self._writing = False
        self._reading = True
        self._processing = False
        self._disconnect_waiters: list[asyncio.Future[None]] = []
        loop.add_reader(self.fd, self._on_readable)

    # -- reading --------------------------------------------------------------------------

    def _on_readable(self) -> None:
        try:
            data = self.sock.recv(_RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close()
            return
        if not data:
            self.close()
            return
        self.last_active = time.monotonic()
        if self.request_since is None and not self.busy:
            self.request_since = self.last_active
        self._buf += data
        if not self.busy:
            self.process()
        elif len(self._buf) > self._max_head + MAX_BODY_BYTES:
            # A client racing ahead of our responses: stop reading until we catch up.
            self.loop.remove_reader(self.fd)
            self._reading = False

    def process(self) -> None:
        """Parse and dispatch buffered requests until one response is in progress."""
        if self._processing:
            return
        self._processing = True
        try:
            while not self.busy and not self.closed:
                head = self._pending
                if head is None:
                    end = self._buf.find(b"\r\n\r\n")
                    if end < 0:
                        if len(self._buf) > self._max_head:
                            self._refuse(431, "request header fields too large")
                        return
                    raw = bytes(self._buf[:end])
                    del self._buf[: end + 4]
                    try:
                        head = parse_head(raw, self._max_head)
                    except BadRequest as exc:
                        self._refuse(exc.status, str(exc))
                        return
                    if head.chunked:
                        self._refuse(411, "request bodies must have a Content-Length")
                        return
                    if head.content_length > MAX_BODY_BYTES:
                        self._refuse(413, "request body too large")
                        return
                if len(self._buf) < head.content_length:
                    self._pending = head
                    return
                self._pending = None
                body = bytes(self._buf[: head.content_length])
                del self._buf[: head.content_length]
                self.busy = True
                self.request_since = None
                self.last_sent = time.monotonic()
                self.keep_alive = head.keep_alive
                self._dispatcher.dispatch(self, head, body)
        finally:
            self._processing = False

    def _refuse(self, status: int, message: str) -> None:
        self.busy = True
        self.request_since = None
        self.last_sent = time.monotonic()
        self.keep_alive = False
        self._dispatcher.reject(self, status, message)

    def finish(self) -> None:
        """The current response is complete: close, or go on with the next request."""
        self.busy = False
        self.last_active = time.monotonic()
        if self.closed:
            return
        if not self.keep_alive:
            self.close()
            return
        if not self._reading:
            self._reading = True
            self.loop.add_reader(self.fd, self._on_readable)
        if self._buf:
            self.request_since = self.last_active  # a pipelined request's bytes are here already
            self.process()

    def overdue(self, request_cutoff: float, send_cutoff: float) -> bool:
        """True when a request began arriving before ``request_cutoff`` and is still incomplete
        (slowloris), or a response waiting for the client to read has sent nothing since
        ``send_cutoff`` (a client that stopped reading)."""
        if not self.busy:
            return self.request_since is not None and self.request_since < request_cutoff
        return self._writing and self.last_sent < send_cutoff

    @property
    def idle(self) -> bool:
        """No response in progress and no partial request buffered."""
        return not self.busy and not self._buf

    async def disconnected(self) -> None:
        """Return when the client has gone (or the connection was closed)."""
        if self.closed:
            return
        future = self.loop.create_future()
        self._disconnect_waiters.append(future)
        await future

    # -- writing --------------------------------------------------------------------------

    def send(self, data: bytes, on_sent: SentCallback | None = None) -> None:
        """Queue ``data``; ``on_sent`` runs once it has all been written (or the client left)."""
        self.send_file(data, -1, 0, 0, on_sent)

    def send_file(self, head: bytes, fd: int, offset: int, count: int, on_sent: SentCallback | None) -> None:
        """Queue ``head`` then ``count`` bytes of file ``fd`` from ``offset`` (zero-copy)."""
        if self.closed:
            if on_sent is not None:
                on_sent(False)
            return
        self._out += head
        self._file_fd, self._file_off, self._file_left = fd, offset, count
        self._on_sent = on_sent
        self._flush(more=count > 0)

    def write(self, data: bytes) -> None:
        """Queue ``data`` without a completion callback (the bridge's streamed bodies)."""
        if self.closed or not data:
            return
        self._out += data
        if not self._writing and self._on_sent is None:
            self._flush(more=False)

    @property
    def buffered(self) -> int:
        return len(self._out)

    async def drain(self) -> None:
        """Wait until buffered output is below the high-water mark (or the client left)."""
        if self.closed or len(self._out) <= _HIGH_WATER:
            return
        future: asyncio.Future[bool] = self.loop.create_future()
        self.send(b"", _resolver(future))
        await future

    async def drain_all(self) -> None:
        """Wait until every buffered byte is written (or the client left)."""
        if self.closed or (not self._out and not self._writing):
            return
        future: asyncio.Future[bool] = self.loop.create_future()
        self.send(b"", _resolver(future))
        await future

    async def sendfile(self, fd: int, offset: int, count: int) -> bool:
        """Send ``count`` bytes of ``fd`` after anything buffered; False when the client left."""
        future: asyncio.Future[bool] = self.loop.create_future()
        self.send_file(b"", fd, offset, count, _resolver(future))
        return await future

    def _flush(self, more: bool = False) -> None:
        while True:
            if self._out:
                try:
                    n = self.sock.send(self._out, socket.MSG_MORE if more else 0)
                except (BlockingIOError, InterruptedError):
                    self._want_write()
                    return
                except OSError:
                    self.close()
                    return
                del self._out[:n]
                if n:
                    self.last_sent = time.monotonic()
                if self._out:
                    self._want_write()
                    return
            if self._file_left > 0:
                try:
                    n = os.sendfile(self.fd, self._file_fd, self._file_off, self._file_left)
                except (BlockingIOError, InterruptedError):
                    self._want_write()
                    return
                except OSError:
                    self.close()
                    return
                if n == 0:  # the file shrank under us: the response cannot be completed
                    self.close()
                    return
                self._file_off += n
                self._file_left -= n
                self.last_sent = time.monotonic()
                continue
            break
        if self._writing:
            self.loop.remove_writer(self.fd)
            self._writing = False
        callback, self._on_sent = self._on_sent, None
        if callback is not None:
            callback(True)

    def _want_write(self) -> None:
        if not self._writing:
            self._writing = True
            self.loop.add_writer(self.fd, self._flush)

    # -- closing --------------------------------------------------------------------------

    def close(self) -> None:
        """Close the socket now (idempotent); a send in progress reports failure."""
        if self.closed:
            return
        self.closed = True
        if self._reading:
            self.loop.remove_reader(self.fd)
        if self._writing:
            self.loop.remove_writer(self.fd)
        self._out.clear()
        self._file_left = 0
        try:
            self.sock.close()
        except OSError:
            pass
        for future in self._disconnect_waiters:
            if not future.done():
                future.set_result(None)
        self._disconnect_waiters.clear()
        callback, self._on_sent = self._on_sent, None
        if callback is not None:
            callback(False)
        self._dispatcher.closed(self)

    def abort(self) -> None:
        """Reset the connection (RST): a response that must not look complete is cut off."""
        if not self.closed:
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        self.close()


def _resolver(future: asyncio.Future[bool]) -> SentCallback:
    def resolve(ok: bool) -> None:
        if not future.done():
            future.set_result(ok)

    return resolve

"""HitLoop: one event loop's client connections and the hot path that answers verified hits.

Per hit the Python work is: parse the head, ``parse_signed_path``, one HMAC (``tokens.verify``),
one dict lookup and ``stat`` (``ChunkStore.pin``), one ``open``, a page-cache probe and a cached
response head; then the kernel sends the file. Anything else is handed to the ASGI app.
"""

from __future__ import annotations

import asyncio
import email.utils
import errno
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from starlette.types import ASGIApp

from streamfleet import requestid
from streamfleet.accesslog import LOGGER, log_access
from streamfleet.addressing import AddressError, ChunkKey, parse_signed_path

from .bridge import ConnectionLike, RemoteConnection, run_asgi
from .config import ApplianceConfig
from .connection import Connection
from .core import Appliance, etag_of
from .errors import RangeError
from .httpwire import RequestHead, etag_matches, if_range_allows, parse_range, response_head
from .stats import ServingStats
from .store import StoredChunk
from .upstream import PEER_FILL_HEADER

_PEER_HEADER = PEER_FILL_HEADER.encode()
# Per-chunk cached response-head lines kept per loop (cleared wholesale when full).
_HEAD_CACHE_ENTRIES = 65536
# Page-cache probes per hit: the file is sampled this often (plus its last page).
_PROBE_STRIDE = 512 * 1024


class Server(Protocol):
    """What a loop needs of the fast server that owns it."""

    app: ASGIApp
    appliance: Appliance
    config: ApplianceConfig

    @property
    def loops(self) -> list[HitLoop]: ...

    @property
    def lifespan_state(self) -> dict[str, Any]: ...

    def run_on_main(self, coro: Coroutine[Any, Any, None]) -> None: ...


class HitLoop:
    """One event loop's connections and its hit serving; every method runs on that loop."""

    def __init__(
        self,
        server: Server,
        loop: asyncio.AbstractEventLoop,
        stats: ServingStats,
        server_addr: tuple[str, int],
    ) -> None:
        self.server = server
        self.loop = loop
        self.stats = stats
        self.thread_id = threading.get_ident()
        self.conns: set[Connection] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self._appliance = server.appliance
        self._config = server.config
        self._server_addr = server_addr
        self._served_by = server.config.id
        self._stopping = False
        self._probe = bytearray(1)
        self._probing = hasattr(os, "RWF_NOWAIT")
        self._date = ("", 0)
        self._date_at = 0
        self._date_bytes = b""
        self._heads: dict[ChunkKey, tuple[tuple[int, int, str | None], str, str, bytes]] = {}
        # Requests answered by the fast path and handed to the ASGI app (for tests and logs).
        self.fast_hits = 0
        # One verified hit in ``_sample`` is access-logged (0: none): a full log line per hit
        # would cost more than the hit itself, a countdown costs one decrement.
        self._sample = server.config.access_log_hit_sample if server.config.access_log else 0
        self._until_sample = self._sample
        self._access = logging.getLogger(LOGGER)
        self.handoffs = 0

    def call(self, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(*args)`` on this loop (now if already on it)."""
        if threading.get_ident() == self.thread_id:
            fn(*args)
        else:
            self.loop.call_soon_threadsafe(fn, *args)

    def adopt(self, sock: socket.socket, peer: tuple[str, int]) -> None:
        if self._stopping:
            sock.close()
            return
        self.conns.add(Connection(self.loop, sock, peer, self, self._config.max_header_bytes))

    def track(self, coro: Coroutine[Any, Any, None]) -> None:
        task = self.loop.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def begin_stop(self) -> None:
        self._stopping = True
        for conn in list(self.conns):
            if conn.idle:
                conn.close()
            else:
                conn.keep_alive = False  # finish the response in progress, then close

    def force_stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        for conn in list(self.conns):
            conn.close()

    def close_idle(self, cutoff: float, request_cutoff: float = 0.0, send_cutoff: float = 0.0) -> None:
        """Close connections idle since ``cutoff``, receiving one request since ``request_cutoff``
        or stuck sending since ``send_cutoff`` (all monotonic times)."""
        for conn in list(self.conns):
            if (not conn.busy and conn.last_active < cutoff) or conn.overdue(request_cutoff, send_cutoff):
                conn.close()

    # -- Dispatcher -----------------------------------------------------------------------

    def closed(self, conn: Connection) -> None:
        self.conns.discard(conn)

    def reject(self, conn: Connection, status: int, message: str) -> None:
        conn.send(canned(status, message, self._served_by), lambda ok: conn.finish())

    def dispatch(self, conn: Connection, head: RequestHead, body: bytes) -> None:
        if self._stopping:
            conn.keep_alive = False
        if (
            head.method in ("GET", "HEAD")
            and head.path.startswith("/s/")
            and "%" not in head.path
            and self._try_hit(conn, head)
        ):
            return
        self.handoffs += 1
        target: ConnectionLike = conn if self is self.server.loops[0] else RemoteConnection(conn)
        self.server.run_on_main(
            run_asgi(self.server.app, target, head, body, self.server.lifespan_state, self._server_addr)
        )

    # -- the hot path ---------------------------------------------------------------------

    def _try_hit(self, conn: Connection, head: RequestHead) -> bool:
        """Answer ``head`` from disk if it is a verified hit (or a token rejection); else False."""
        try:
            token, key = parse_signed_path(head.path)
        except AddressError:
            return False
        appliance = self._appliance
        if not appliance.token_ok(token, key, self.stats):
            conn.send(canned(403, "invalid or expired token", self._served_by, conn.keep_alive),
                      lambda ok: conn.finish())
            return True
        chunk = appliance.hit(key)
        if chunk is None:
            return False
        if _PEER_HEADER in head.fields:
            self.stats.peer_requests += 1
        try:
            return self._send_hit(conn, head, key, chunk)
        except BaseException:
            appliance.store.unpin(key)
            raise

    def _send_hit(self, conn: Connection, head: RequestHead, key: ChunkKey, chunk: StoredChunk) -> bool:
        appliance = self._appliance
        etag, last_modified, fixed = self._fixed_headers(key, chunk)
        size = chunk.size
        close = b"" if conn.keep_alive else b"connection: close\r\n"
        inm = head.get(b"if-none-match")
        if inm is not None and etag_matches(inm, etag):
            appliance.store.unpin(key)
            self.stats.count("hit", 0)
            conn.send(b"HTTP/1.1 304 Not Modified\r\n" + self._date_line() + fixed + close + b"\r\n",
                      lambda ok: conn.finish())
            return True
        start, end, status, status_line, extra = 0, size, 200, b"HTTP/1.1 200 OK\r\n", b""
        http_range = head.get(b"range")
        if http_range is not None:
            if_range = head.get(b"if-range")
            if if_range is None or if_range_allows(if_range, etag, last_modified):
                try:
                    parsed = parse_range(http_range, size)
                except RangeError as exc:
                    appliance.store.unpin(key)
                    return False if exc.status == 400 else self._send_416(conn, size)
                if parsed is None:  # several ranges: multipart is the ASGI app's job
                    appliance.store.unpin(key)
                    return False
                start, end = parsed
                status, status_line = 206, b"HTTP/1.1 206 Partial Content\r\n"
                extra = b"content-range: bytes %d-%d/%d\r\n" % (start, end - 1, size)
        try:
            fd = os.open(chunk.fspath, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            appliance.store.unpin(key)
            return False  # the slow path's pin() notices the missing file and refetches
        send_body = head.method == "GET"
        raw_head = b"%b%b%b%b%bcontent-length: %d\r\n\r\n" % (
            status_line, self._date_line(), fixed, close, extra, end - start
        )

        def finished(ok: bool) -> None:
            os.close(fd)
            appliance.store.unpin(key)
            self.stats.count("hit", (end - start) if ok and send_body else 0)
            if not ok:
                conn.close()
            conn.finish()

        done: Callable[[bool], None] = finished
        self.fast_hits += 1
        if self._sample:
            self._until_sample -= 1
            if self._until_sample <= 0:
                self._until_sample = self._sample
                done = self._logged(done, conn, head, status, (end - start) if send_body else 0)
        if not send_body:
            conn.send(raw_head, done)
        elif self._resident(fd, start, end):
            conn.send_file(raw_head, fd, start, end - start, done)
        else:
            self._send_cold(conn, raw_head, fd, start, end, done)
        return True

    def _logged(
        self, done: Callable[[bool], None], conn: Connection, head: RequestHead, status: int, length: int
    ) -> Callable[[bool], None]:
        """``done``, then one access line for this (sampled) hit."""
        started = time.perf_counter()

        def logged(ok: bool) -> None:
            done(ok)
            log_access(
                self._access, head.method, head.path, status, length if ok else 0,
                time.perf_counter() - started, conn.peer[0], query=head.query,
                request_id=requestid.accept(head.fields.get(b"x-request-id")),
            )

        return logged

    def _fixed_headers(self, key: ChunkKey, chunk: StoredChunk) -> tuple[str, str, bytes]:
        """ETag, Last-Modified and the header lines that only change with the file, cached per chunk."""
        cached = self._heads.get(key)
        stamp = (chunk.stat.st_mtime_ns, chunk.size, chunk.sha256)
        if cached is not None and cached[0] == stamp:
            return cached[1], cached[2], cached[3]
        etag = etag_of(chunk)
        last_modified = email.utils.formatdate(chunk.stat.st_mtime, usegmt=True)
        fixed = (
            f"content-type: {key.content_type}\r\netag: {etag}\r\nlast-modified: {last_modified}\r\n"
            f"accept-ranges: bytes\r\nx-cache: HIT\r\nx-served-by: {self._served_by}\r\n"
        ).encode("latin-1")
        if len(self._heads) >= _HEAD_CACHE_ENTRIES:
            self._heads.clear()  # crude bound; refilling costs a few microseconds per chunk
        self._heads[key] = (stamp, etag, last_modified, fixed)
        return etag, last_modified, fixed

    def _date_line(self) -> bytes:
        now = int(time.time())
        if self._date_at != now:
            self._date_at = now
            self._date_bytes = b"date: %b\r\n" % email.utils.formatdate(now, usegmt=True).encode()
        return self._date_bytes

    def _send_416(self, conn: Connection, size: int) -> bool:
        self.stats.count("error", 0)
        body = b'{"error":{"status":416,"message":"range not satisfiable"}}'
        headers = [
            ("date", self._now()),
            ("content-type", "application/json"),
            ("content-range", f"bytes */{size}"),
            ("content-length", str(len(body))),
            ("x-served-by", self._served_by),
        ]
        conn.send(response_head(416, headers) + body, lambda ok: conn.finish())
        return True

    def _resident(self, fd: int, start: int, end: int) -> bool:
        """True when sampled pages of [start, end) are in the page cache (sendfile won't block).

        preadv(RWF_NOWAIT) fails with EAGAIN instead of reading from disk. Where it is not
        supported the file is assumed warm.
        """
        if not self._probing or end <= start:
            return True
        offsets = list(range(start, end, _PROBE_STRIDE))
        offsets.append(end - 1)
        try:
            for offset in offsets:
                os.preadv(fd, [self._probe], offset, os.RWF_NOWAIT)
        except BlockingIOError:
            return False
        except OSError as exc:
            if exc.errno in (errno.EOPNOTSUPP, errno.EINVAL):
                self._probing = False
            return True
        return True

    def _send_cold(
        self, conn: Connection, raw_head: bytes, fd: int, start: int, end: int, done: Callable[[bool], None]
    ) -> None:
        """Read a cold range into the page cache in a thread, then sendfile it as usual."""
        loop = asyncio.get_running_loop()

        def warmed(future: asyncio.Future[None]) -> None:
            if future.exception() is not None:
                self._appliance.store.record_disk_error()
                done(False)
                return
            conn.send_file(raw_head, fd, start, end - start, done)

        loop.run_in_executor(None, _warm, fd, start, end).add_done_callback(warmed)

    def _now(self) -> str:
        now = int(time.time())
        text, at = self._date
        if at != now:
            text = email.utils.formatdate(now, usegmt=True)
            self._date = (text, now)
        return text


def _warm(fd: int, start: int, end: int) -> None:
    """Blocking: ask for readahead, then read the range through so every page is cached."""
    os.posix_fadvise(fd, start, end - start, os.POSIX_FADV_WILLNEED)
    buf = bytearray(min(1024 * 1024, max(end - start, 1)))
    offset = start
    while offset < end:
        n = os.preadv(fd, [memoryview(buf)[: min(len(buf), end - offset)]], offset)
        if n <= 0:
            raise OSError(errno.EIO, "short read while warming a chunk")
        offset += n


def canned(status: int, message: str, served_by: str, keep_alive: bool = False) -> bytes:
    """A complete JSON error response, for paths that never reach the ASGI app."""
    body = json.dumps({"error": {"status": status, "message": message}}).encode()
    headers: list[tuple[str, Any]] = [
        ("content-type", "application/json"),
        ("content-length", str(len(body))),
        ("x-served-by", served_by),
    ]
    if not keep_alive:
        headers.append(("connection", "close"))
    return response_head(status, headers) + body

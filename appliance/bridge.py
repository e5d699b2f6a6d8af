"""The fast server's ASGI side: run one request, or the lifespan, of the starlette app.

A minimal ASGI 3 server over :class:`~appliance.connection.Connection`: HTTP/1.1 keep-alive,
chunked responses when the app gives no Content-Length, ``http.response.pathsend`` as
sendfile, and a JSON 500 when the app fails before responding (a response cut short by a
failure resets the connection, so it can never look complete).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import os
from collections.abc import Coroutine
from typing import Any, Protocol, TypeVar
from urllib.parse import unquote

from starlette.types import ASGIApp, Message

from streamfleet.accesslog import redact_path

from .connection import Connection
from .httpwire import RequestHead, response_head

log = logging.getLogger(__name__)
T = TypeVar("T")

_NO_BODY_STATUSES = frozenset({204, 304})


class ConnectionLike(Protocol):
    """What the bridge needs of a connection: :class:`Connection` or a :class:`RemoteConnection`."""

    peer: tuple[str, int]
    keep_alive: bool

    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    async def drain_all(self) -> None: ...

    async def sendfile(self, fd: int, offset: int, count: int) -> bool: ...

    async def disconnected(self) -> None: ...

    def finish(self) -> None: ...

    def abort(self) -> None: ...


class RemoteConnection:
    """A connection owned by another event loop (a hit thread), driven from the app's loop.

    Every call is marshalled onto the owning loop in order (call_soon_threadsafe is FIFO), so
    writes, sendfile and finish keep their order; awaits wait on the owner's result.
    """

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._loop = conn.loop
        self.peer = conn.peer

    @property
    def keep_alive(self) -> bool:
        return self._conn.keep_alive

    @keep_alive.setter
    def keep_alive(self, value: bool) -> None:
        # The connection is busy with this request: its own loop does not touch the flag now.
        self._conn.keep_alive = value

    def write(self, data: bytes) -> None:
        self._loop.call_soon_threadsafe(self._conn.write, data)

    async def _on_owner(self, coro: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    async def drain(self) -> None:
        await self._on_owner(self._conn.drain())

    async def drain_all(self) -> None:
        await self._on_owner(self._conn.drain_all())

    async def sendfile(self, fd: int, offset: int, count: int) -> bool:
        return await self._on_owner(self._conn.sendfile(fd, offset, count))

    async def disconnected(self) -> None:
        await self._on_owner(self._conn.disconnected())

    def finish(self) -> None:
        self._loop.call_soon_threadsafe(self._conn.finish)

    def abort(self) -> None:
        self._loop.call_soon_threadsafe(self._conn.abort)
_ERROR_500 = b'{"error":{"status":500,"message":"internal error"}}'


def _scope(
    head: RequestHead, conn: ConnectionLike, state: dict[str, Any], server: tuple[str, int]
) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": head.http_version,
        "method": head.method,
        "scheme": "http",
        "path": unquote(head.path),
        "raw_path": head.path.encode("ascii"),
        "query_string": head.query,
        "root_path": "",
        "headers": head.headers,
        "client": conn.peer,
        "server": server,
        "state": state.copy(),
        "extensions": {"http.response.pathsend": {}},
    }


async def run_asgi(
    app: ASGIApp,
    conn: ConnectionLike,
    head: RequestHead,
    body: bytes,
    state: dict[str, Any],
    server: tuple[str, int],
) -> None:
    """Run ``app`` for one request on ``conn``; calls ``conn.finish()`` (or aborts) at the end."""
    body_sent = False
    started = False
    complete = False
    chunked = False
    skip_body = False
    pending = b""

    async def receive() -> Message:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await conn.disconnected()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal started, complete, chunked, skip_body, pending
        kind = message["type"]
        if kind == "http.response.start":
            if started:
                raise RuntimeError("response already started")
            started = True
            status = int(message["status"])
            headers = [(bytes(k).decode("latin-1").lower(), bytes(v).decode("latin-1"))
                       for k, v in message.get("headers", [])]
            names = {name for name, _ in headers}
            skip_body = head.method == "HEAD" or status in _NO_BODY_STATUSES or status < 200
            if not skip_body and "content-length" not in names:
                if head.http_version == "1.1":
                    chunked = True
                    headers.append(("transfer-encoding", "chunked"))
                else:
                    conn.keep_alive = False
            if "date" not in names:
                headers.insert(0, ("date", email.utils.formatdate(usegmt=True)))
            if not conn.keep_alive:
                headers.append(("connection", "close"))
            pending = response_head(status, headers)
            return
        if not started or complete:
            raise RuntimeError(f"unexpected ASGI message {kind!r}")
        if kind == "http.response.body":
            data = bytes(message.get("body", b""))
            more = bool(message.get("more_body", False))
            if skip_body:
                data = b""
            elif chunked:
                framed = b"%x\r\n%b\r\n" % (len(data), data) if data else b""
                data = framed + (b"" if more else b"0\r\n\r\n")
            conn.write(pending + data)
            pending = b""
            complete = not more
            await conn.drain()
        elif kind == "http.response.pathsend":
            conn.write(pending)
            pending = b""
            complete = True
            if skip_body:
                return
            fd = os.open(message["path"], os.O_RDONLY | os.O_CLOEXEC)
            try:
                ok = await conn.sendfile(fd, 0, os.fstat(fd).st_size)
            finally:
                os.close(fd)
            if ok and chunked:
                raise RuntimeError("pathsend needs a Content-Length")
        else:
            raise RuntimeError(f"unsupported ASGI message {kind!r}")

    try:
        await app(_scope(head, conn, state, server), receive, send)
    except asyncio.CancelledError:
        conn.abort()
        raise
    except Exception:
        log.exception("request failed", extra={"path": redact_path(head.path)})
        if not started:
            conn.keep_alive = False
            headers = [("content-type", "application/json"), ("content-length", str(len(_ERROR_500))),
                       ("connection", "close")]
            conn.write(response_head(500, headers) + _ERROR_500)
            await conn.drain()
            complete = True
    if not complete:
        conn.abort()  # an unfinished response must not look complete
        conn.finish()
        return
    await conn.drain_all()
    conn.finish()


async def _call(app: ASGIApp, scope: dict[str, Any], receive: Any, send: Any) -> None:
    await app(scope, receive, send)


class Lifespan:
    """Runs the app's ASGI lifespan: startup before serving, shutdown after; ``state`` is shared."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self.state: dict[str, Any] = {}
        self._task: asyncio.Task[None] | None = None
        self._startup: asyncio.Future[None] | None = None
        self._shutdown: asyncio.Future[None] | None = None
        self._shutdown_asked: asyncio.Event | None = None

    async def startup(self) -> None:
        """Raises RuntimeError when the app reports a failed startup."""
        loop = asyncio.get_running_loop()
        self._startup = loop.create_future()
        self._shutdown = loop.create_future()
        self._shutdown_asked = asyncio.Event()
        asked = self._shutdown_asked
        startup, shutdown = self._startup, self._shutdown
        phase = "startup"

        async def receive() -> Message:
            nonlocal phase
            if phase == "startup":
                phase = "running"
                return {"type": "lifespan.startup"}
            await asked.wait()
            return {"type": "lifespan.shutdown"}

        async def send(message: Message) -> None:
            kind = message["type"]
            target = startup if kind.startswith("lifespan.startup") else shutdown
            if target.done():
                return
            if kind.endswith(".failed"):
                target.set_exception(RuntimeError(message.get("message", kind)))
            else:
                target.set_result(None)

        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": self.state}
        self._task = loop.create_task(_call(self._app, scope, receive, send))
        self._task.add_done_callback(lambda task: self._ended(task, startup, shutdown))
        await startup

    @staticmethod
    def _ended(task: asyncio.Task[None], *futures: asyncio.Future[None]) -> None:
        error = task.exception() if not task.cancelled() else None
        for future in futures:
            if not future.done():
                future.set_exception(error or RuntimeError("lifespan ended early"))

    async def shutdown(self) -> None:
        """Ask the app to shut down and wait for it (errors are logged, not raised)."""
        if self._shutdown_asked is None or self._shutdown is None or self._task is None:
            return
        self._shutdown_asked.set()
        try:
            await self._shutdown
        except Exception:
            log.exception("lifespan shutdown failed")
        await asyncio.gather(self._task, return_exceptions=True)

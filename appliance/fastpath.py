"""FastServer: serves verified hits itself with sendfile and hands every other request to the ASGI app.

The hot path is :mod:`appliance.hitloop`. Misses, unverified chunks, multi-range requests,
/healthz, /metrics, /admin and every error path go through :mod:`appliance.bridge` to the
starlette app, which holds the one implementation of those.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

from starlette.types import ASGIApp

from .bridge import Lifespan
from .config import ApplianceConfig
from .core import Appliance
from .hitloop import HitLoop, canned

log = logging.getLogger(__name__)


class FastServer:
    """The appliance's HTTP/1.1 server. ``serve()`` runs until :meth:`request_stop`.

    The main event loop accepts connections, runs the ASGI app (lifespan, misses, /healthz,
    /metrics, /admin) and serves hits itself; ``config.hit_threads`` more event loops, each in
    its own thread, serve hits on the connections dealt to them round-robin. ``os.sendfile``
    runs without the GIL, so the kernel's copying spreads over the cores.
    """

    def __init__(
        self,
        app: ASGIApp,
        appliance: Appliance,
        config: ApplianceConfig,
        *,
        sock: socket.socket | None = None,
        graceful_s: float = 10.0,
    ) -> None:
        self.app = app
        self.appliance = appliance
        self.config = config
        self.port = 0
        self._sock = sock
        self._graceful_s = graceful_s
        self._lifespan = Lifespan(app)
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loops: list[HitLoop] = []
        self._threads: list[threading.Thread] = []
        self._next = 0

    @property
    def lifespan_state(self) -> dict[str, Any]:
        return self._lifespan.state

    @property
    def loops(self) -> list[HitLoop]:
        return list(self._loops)

    def connections(self) -> int:
        return sum(len(loop.conns) for loop in self._loops)

    # -- lifecycle ------------------------------------------------------------------------

    async def serve(self, on_ready: Callable[[int], None] | None = None) -> None:
        """Start the app's lifespan, listen, serve until stopped, then shut down gracefully."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._stop = asyncio.Event()
        await self._lifespan.startup()
        self.appliance.connections = self.connections
        listener = self._sock or socket.create_server((self.config.host, self.config.port), backlog=2048)
        listener.setblocking(False)
        self.port = listener.getsockname()[1]
        server_addr = (self.config.host, self.port)
        main = HitLoop(self, loop, self.appliance.stats, server_addr)
        self._loops.append(main)
        for n in range(self._thread_count()):
            self._start_thread(n, server_addr)
        loop.add_reader(listener.fileno(), self._accept, listener)
        sweeper = loop.create_task(self._sweep())
        log.info(
            "fast server listening",
            extra={"host": self.config.host, "port": self.port, "loops": len(self._loops)},
        )
        if on_ready is not None:
            on_ready(self.port)
        try:
            await self._stop.wait()
        finally:
            loop.remove_reader(listener.fileno())
            listener.close()
            sweeper.cancel()
            await self._shutdown()
            await self._lifespan.shutdown()

    def _thread_count(self) -> int:
        if self.config.hit_threads >= 0:
            return self.config.hit_threads
        # Hit loops share one GIL: on two CPUs an extra loop only contends with the main one
        # (measured: 256 KiB hits 0.80-1.0x nginx with one extra loop, 1.05-1.1x without, and a
        # lower p99). Beyond that, leave one CPU for the main loop and one for the kernel's
        # sendfile and TCP work.
        cpus = os.cpu_count() or 1
        return 0 if cpus <= 2 else cpus - 2

    def _start_thread(self, n: int, server_addr: tuple[str, int]) -> None:
        ready = threading.Event()
        holder: list[HitLoop] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            hit_loop = HitLoop(self, loop, self.appliance.add_stats(), server_addr)
            holder.append(hit_loop)
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_default_executor())
                loop.close()

        thread = threading.Thread(target=run, name=f"hit-loop-{n + 1}", daemon=True)
        thread.start()
        ready.wait()
        self._loops.append(holder[0])
        self._threads.append(thread)

    def request_stop(self) -> None:
        """Begin a graceful stop; safe from any thread and from signal handlers."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            loop.call_soon_threadsafe(stop.set)

    async def _shutdown(self) -> None:
        for hit_loop in self._loops:
            hit_loop.call(hit_loop.begin_stop)
        deadline = time.monotonic() + self._graceful_s
        while any(h.conns or h.tasks for h in self._loops) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        for hit_loop in self._loops:
            hit_loop.call(hit_loop.force_stop)
        main = self._loops[0]
        await asyncio.gather(*main.tasks, return_exceptions=True)
        for hit_loop in self._loops[1:]:
            hit_loop.loop.call_soon_threadsafe(hit_loop.loop.stop)
        for thread in self._threads:
            await asyncio.to_thread(thread.join, 5)

    async def _sweep(self) -> None:
        """Close keep-alive connections idle longer than the timeout, requests that trickle in
        slower than the header timeout (slowloris), and responses nobody reads any more."""
        c = self.config
        shortest = min(c.keepalive_timeout_s, c.header_timeout_s, c.send_timeout_s)
        while True:
            await asyncio.sleep(min(1.0, shortest / 2))
            now = time.monotonic()
            cutoffs = (now - c.keepalive_timeout_s, now - c.header_timeout_s, now - c.send_timeout_s)
            for hit_loop in self._loops:
                hit_loop.call(hit_loop.close_idle, *cutoffs)

    def _accept(self, listener: socket.socket) -> None:
        for _ in range(64):
            try:
                sock, addr = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    log.error("cannot accept connections", extra={"error": str(exc)})
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.connections() >= self.config.max_connections:
                try:  # best effort: one small write, then close
                    sock.send(canned(503, "too many connections", self.config.id))
                except OSError:
                    pass
                sock.close()
                continue
            peer = addr if isinstance(addr, tuple) else ("", 0)
            hit_loop = self._loops[self._next % len(self._loops)]
            self._next += 1
            hit_loop.call(hit_loop.adopt, sock, (str(peer[0]), int(peer[1])))

    def run_on_main(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a request's ASGI coroutine on the main loop (the app's loop), from any loop."""
        assert self._loop is not None
        main = self._loops[0]
        if threading.get_ident() == main.thread_id:
            main.track(coro)
        else:
            self._loop.call_soon_threadsafe(main.track, coro)



"""Simulated viewers for load runs: the player library with a real-time playback clock, in one loop."""

from __future__ import annotations

import asyncio
import os
import random
import ssl
from collections.abc import Callable, Mapping

import httpx

from player.report import PlayReport
from player.session import Pacing, play
from player.verify import FileCatalog

# A session watches this many media segments (4 s each): 20 to 60 seconds.
SEGMENTS_WATCHED = (5, 15)
# Viewers still downloading when the time is up get this long to finish that request.
FINISH_GRACE_S = 15.0


def rss_of(pid: int | None = None) -> dict[str, float]:
    """VmRSS and VmHWM (peak) in MB of a process (this one by default), from /proc/<pid>/status."""
    out = {"VmRSS": 0.0, "VmHWM": 0.0}
    try:
        with open(f"/proc/{pid or os.getpid()}/status") as fh:
            for line in fh:
                name, _, value = line.partition(":")
                if name in out:
                    out[name] = int(value.split()[0]) / 1024
    except OSError:
        pass
    return out


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds a process has used, from /proc/<pid>/stat (0.0 if it is gone)."""
    try:
        with open(f"/proc/{pid or os.getpid()}/stat") as fh:
            fields = fh.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ViewerPool:
    """Runs viewers that play one session after another until told to stop.

    Titles are picked with Zipf-like weights (1, 1/2, 1/3, ...) in the order of ``catalogs``;
    every file is verified against the title's catalog. ``session_for(user_id)`` mints each
    viewer's session token.
    """

    def __init__(
        self,
        steering_url: str,
        catalogs: Mapping[str, FileCatalog],
        session_for: Callable[[str], str],
        *,
        buffer_target_s: float = 12.0,
        ramp_s: float = 10.0,
        seed: int = 1,
        timeout_s: float = 10.0,
    ) -> None:
        self._steering = steering_url
        self._catalogs = dict(catalogs)
        self._titles = list(catalogs)
        self._weights = [1 / (n + 1) for n in range(len(self._titles))]
        self._session_for = session_for
        self._pacing = Pacing(buffer_target_s=buffer_target_s, play_out=True)
        self._ramp_s = ramp_s
        self._seed = seed
        self._timeout_s = timeout_s
        # One TLS context for every viewer's client: building one reads the CA bundle (~30 ms of
        # CPU), which 200 viewers arriving at once would spend blocking the event loop.
        self._tls = ssl.create_default_context()
        self.reports: list[PlayReport] = []
        # How late this process's event loop ran a 50 ms timer, sampled through the run: when
        # it lags, every measured time (startup included) carries the load generator's delay.
        self.loop_lag_s: list[float] = []
        # When each session (of ``reports``, same order) began, in seconds from the run's start.
        self.began_s: list[float] = []
        self._t0 = 0.0

    async def run(self, players: int, seconds: float) -> list[PlayReport]:
        """Run ``players`` viewers for ``seconds``; every session's report (cut-off ones included)."""
        stop = asyncio.Event()
        self._t0 = asyncio.get_running_loop().time()
        viewers = [asyncio.create_task(self._viewer(n, stop)) for n in range(players)]
        lag = asyncio.create_task(self._watch_lag(stop))
        await asyncio.sleep(seconds)
        stop.set()
        await lag
        done, pending = await asyncio.wait(viewers, timeout=FINISH_GRACE_S)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in done:
            task.result()  # a bug in a viewer must not pass silently
        return self.reports

    async def _watch_lag(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            asked = loop.time()
            await asyncio.sleep(0.05)
            self.loop_lag_s.append(max(0.0, loop.time() - asked - 0.05))

    async def _viewer(self, n: int, stop: asyncio.Event) -> None:
        rng = random.Random(self._seed * 100_003 + n)
        try:
            await asyncio.wait_for(stop.wait(), rng.uniform(0, self._ramp_s))
            return
        except TimeoutError:
            pass
        session = self._session_for(f"viewer-{n}")
        limits = httpx.Limits(max_connections=8, max_keepalive_connections=4)
        async with httpx.AsyncClient(timeout=self._timeout_s, limits=limits, verify=self._tls) as client:
            while not stop.is_set():
                title = rng.choices(self._titles, self._weights)[0]
                began = asyncio.get_running_loop().time() - self._t0
                report = await play(
                    self._steering, title, client=client, session=session, catalog=self._catalogs[title],
                    pacing=self._pacing, max_segments=rng.randint(*SEGMENTS_WATCHED), stop=stop,
                )  # fmt: skip
                self.reports.append(report)
                self.began_s.append(began)
                if not report.ok:
                    await asyncio.sleep(1.0)  # a viewer retries after a failure, not in a tight loop

"""Popularity reporting: playback starts per (site, title), sent to the control plane in batches.

Every ``interval`` seconds one ``POST {control_plane_http}/v1/popularity`` per site with
``{"site": "<site>", "starts": {"<title>": <count>}}``. A batch the control plane does not take
(unreachable, 5xx, 429) is kept and merged into the next one; at most ``max_titles`` titles per
site are held, newcomers beyond that are dropped (counted in ``dropped``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import httpx

log = logging.getLogger(__name__)


class PopularityReporter:
    """Counts starts and reports them in the background. Use from one event loop only."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        control_plane_http: str,
        *,
        interval: float = 10.0,
        token: str = "",
        max_titles: int = 100_000,
        timeout: float = 2.0,
        on_result: Callable[[str], None] | None = None,
    ) -> None:
        self._client = client
        self._url = control_plane_http.rstrip("/") + "/v1/popularity"
        self._interval = interval
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._max_titles = max_titles
        self._timeout = timeout
        # Told "sent", "kept" or "refused" per batch (metrics).
        self._on_result: Callable[[str], None] = on_result or (lambda result: None)
        self._pending: dict[str, dict[str, int]] = {}
        self._task: asyncio.Task[None] | None = None
        self.sent = 0  # batches the control plane accepted
        self.failures = 0  # batches kept for a later try
        self.rejected = 0  # batches the control plane refused for good (4xx)
        self.dropped = 0  # starts not counted because a site's batch was full

    def count(self, site: str, title: str) -> None:
        """Count one playback start of ``title`` by a client of ``site``. O(1)."""
        starts = self._pending.get(site)
        if starts is None:
            starts = self._pending[site] = {}
        if title in starts:
            starts[title] += 1
        elif len(starts) < self._max_titles:
            starts[title] = 1
        else:
            self.dropped += 1

    @property
    def pending_titles(self) -> int:
        return sum(len(s) for s in self._pending.values())

    async def flush(self) -> bool:
        """Send every site's batch now; True when all were delivered (or nothing was pending)."""
        batches, self._pending = self._pending, {}
        ok = True
        for site, starts in batches.items():
            if not starts:
                continue
            if not await self._send(site, starts):
                ok = False
                self._merge_back(site, starts)
        return ok

    async def _send(self, site: str, starts: dict[str, int]) -> bool:
        """Deliver one batch; True when done with it (accepted, or refused for good)."""
        try:
            response = await self._client.post(
                self._url, json={"site": site, "starts": starts}, headers=self._headers, timeout=self._timeout
            )
        except httpx.HTTPError as exc:
            self.failures += 1
            self._on_result("kept")
            log.warning(
                "popularity report failed; keeping the batch",
                extra={"url": self._url, "site": site, "titles": len(starts), "error": repr(exc)},
            )
            return False
        if response.is_success:
            self.sent += 1
            self._on_result("sent")
            return True
        if response.status_code in (408, 429) or response.status_code >= 500:
            self.failures += 1
            self._on_result("kept")
            log.warning(
                "popularity report not taken; keeping the batch",
                extra={"url": self._url, "site": site, "status": response.status_code},
            )
            return False
        # A batch refused as malformed or unauthorised would be refused forever.
        self.rejected += 1
        self._on_result("refused")
        log.error(
            "popularity report refused; dropping the batch",
            extra={
                "url": self._url,
                "site": site,
                "status": response.status_code,
                "body": response.text[:200],
            },
        )
        return True

    def _merge_back(self, site: str, starts: dict[str, int]) -> None:
        current = self._pending.setdefault(site, {})
        for title, n in starts.items():
            if title in current:
                current[title] += n
            elif len(current) < self._max_titles:
                current[title] = n
            else:
                self.dropped += n

    def start(self) -> None:
        """Report every ``interval`` seconds in the background (interval 0: never)."""
        if self._task is None and self._interval > 0:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="popularity-reporter")

    async def stop(self) -> None:
        """Stop the loop, then try one last flush so starts are not lost on a clean shutdown."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            # Bounded, so an unreachable control plane cannot hold up shutdown for long.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.flush(), self._timeout + 1.0)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.flush()
            except Exception:
                log.exception("popularity reporter error")

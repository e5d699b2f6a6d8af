"""FillProgress: how far a fill in flight has written its temp file, for readers streaming behind it."""

from __future__ import annotations

import asyncio
from pathlib import Path


class FillProgress:
    """Bytes written so far by one fill, and whether it ended well.

    The writer calls :meth:`advance` after each flushed write and :meth:`finish` once; readers
    await :meth:`wait_beyond`. Bytes below ``written`` are on disk in ``path`` (unverified until
    ``ok`` is True). Bound to one event loop; safe across its tasks.
    """

    def __init__(self, path: Path, size: int, sha256: str) -> None:
        self.path = path
        self.size = size
        self.sha256 = sha256
        self.written = 0
        # None while running; True once verified and committed; False when the fill failed.
        self.ok: bool | None = None
        self._event = asyncio.Event()

    def advance(self, written: int) -> None:
        self.written = written
        self._wake()

    def finish(self, ok: bool) -> None:
        """Record the outcome; only the first call counts."""
        if self.ok is None:
            self.ok = ok
            self._wake()

    async def wait_beyond(self, offset: int) -> None:
        """Return once more than ``offset`` bytes are written or the fill has ended."""
        while self.written <= offset and self.ok is None:
            await self._event.wait()

    async def finished(self) -> bool:
        """Wait for the outcome: True once verified and committed, False when the fill failed."""
        while self.ok is None:
            await self._event.wait()
        return self.ok

    def _wake(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()

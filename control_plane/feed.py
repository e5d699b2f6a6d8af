"""FleetFeed: hands the latest fleet snapshot to any number of watchers as versions appear.

A watcher always gets the newest snapshot, never a backlog: a slow watcher skips intermediate
versions instead of queueing them, so memory stays bounded however slow steering reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from .model import FleetState


class FleetFeed:
    """Latest-value broadcast. Use from one event loop; ``publish`` is synchronous."""

    def __init__(self, initial: FleetState) -> None:
        self._latest = initial
        self._wakeups: set[asyncio.Event] = set()
        self._closed = False

    @property
    def latest(self) -> FleetState:
        return self._latest

    @property
    def watcher_count(self) -> int:
        """Subscriptions currently open."""
        return len(self._wakeups)

    @property
    def closed(self) -> bool:
        return self._closed

    def publish(self, state: FleetState) -> None:
        """Make ``state`` the latest and wake every watcher; older versions are ignored."""
        if state.version <= self._latest.version:
            return
        self._latest = state
        for wakeup in self._wakeups:
            wakeup.set()

    def close(self) -> None:
        """End every subscription (after it has delivered the latest version) and refuse new ones."""
        self._closed = True
        for wakeup in self._wakeups:
            wakeup.set()

    async def subscribe(self) -> AsyncGenerator[FleetState, None]:
        """Yield the latest snapshot at once, then each newer one; ends when the feed closes.

        Wrap in ``contextlib.aclosing`` so an abandoned subscription is removed promptly.
        """
        wakeup = asyncio.Event()
        self._wakeups.add(wakeup)
        try:
            sent = -1
            while True:
                # Clear before looking: a publish during the yield below sets it again.
                wakeup.clear()
                state = self._latest
                if state.version != sent:
                    sent = state.version
                    yield state
                    continue
                if self._closed:
                    return
                await wakeup.wait()
        finally:
            self._wakeups.discard(wakeup)

"""Single-flight: concurrent calls for one key share one running task and its outcome."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    """Coalesces concurrent ``do(key, fn)`` calls: the first starts ``fn()``, the rest await it.

    The work runs as its own task, so a caller that goes away (client disconnect, cancellation)
    does not cancel the fetch the other callers are waiting for. Once the task finishes the key
    is forgotten: the next call starts afresh (results are not cached here). Bound to one event
    loop; safe across tasks, not across threads.
    """

    def __init__(self) -> None:
        self._running: dict[K, asyncio.Task[V]] = {}

    def __len__(self) -> int:
        """Number of keys with work in flight."""
        return len(self._running)

    def __contains__(self, key: object) -> bool:
        """True when work for ``key`` is in flight (a ``do`` call would join it)."""
        return key in self._running

    async def do(self, key: K, fn: Callable[[], Coroutine[Any, Any, V]]) -> V:
        """Return ``fn()``'s result for ``key``, sharing a run already in flight.

        Raises whatever ``fn`` raised (to every caller sharing that run).
        """
        task = self._running.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(fn())
            self._running[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        return await asyncio.shield(task)

    def _finished(self, key: K, task: asyncio.Task[V]) -> None:
        if self._running.get(key) is task:
            del self._running[key]
        if not task.cancelled():
            task.exception()  # mark retrieved: every caller may have gone away

    async def cancel_all(self) -> None:
        """Cancel every run in flight and wait for them to unwind (used at shutdown)."""
        tasks = list(self._running.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

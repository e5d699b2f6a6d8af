"""Sliding-window failure counting for login throttling (per account and per client address).

Not safe for concurrent access from several threads: the HTTP adapter uses it from the event loop
only. In-memory, so each origin replica throttles on its own (a replica set would share a store).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

# Keys tracked at most; past that the stalest are forgotten (bounds memory under a spray attack).
MAX_KEYS = 100_000


class FailureLimiter:
    """Refuses a key once it has ``max_failures`` failures within the last ``window`` seconds."""

    def __init__(self, max_failures: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float] | None:
        stamps = self._failures.get(key)
        if stamps is None:
            return None
        cutoff = self._clock() - self.window
        while stamps and stamps[0] <= cutoff:
            stamps.popleft()
        if not stamps:
            del self._failures[key]
            return None
        return stamps

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may try again; 0 means it may try now."""
        stamps = self._recent(key)
        if stamps is None or len(stamps) < self.max_failures:
            return 0.0
        # Allowed again once enough failures have aged out of the window.
        return max(0.0, stamps[-self.max_failures] + self.window - self._clock())

    def record_failure(self, key: str) -> None:
        stamps = self._recent(key)
        if stamps is None:
            if len(self._failures) >= MAX_KEYS:
                del self._failures[next(iter(self._failures))]
            stamps = self._failures[key] = deque(maxlen=self.max_failures)
        stamps.append(self._clock())

    def reset(self, key: str) -> None:
        """Forget ``key``'s failures (after a successful login)."""
        self._failures.pop(key, None)

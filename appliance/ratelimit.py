"""TokenBucket: caps the fill's average download rate (bytes per second) with a bounded burst."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

Sleep = Callable[[float], Awaitable[None]]


class TokenBucket:
    """A token bucket that lets a caller run into debt: :meth:`reserve` always takes the tokens
    and says how long to wait until the balance is back to zero.

    That suits whole-chunk reservations: a chunk larger than the burst still goes through, and
    the average over any long stretch stays at ``rate`` however the chunks are sized. Tokens
    accrue at ``rate`` bytes per second up to ``burst`` bytes. ``rate`` 0 means no limit (every
    reservation is free). The clock is monotonic seconds, injectable for tests. Safe across the
    tasks of one event loop (no awaits inside :meth:`reserve`); not across threads.
    """

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate < 0:
            raise ValueError("rate must not be negative")
        self._clock = clock
        self._rate = float(rate)
        # One second's worth by default: short bursts smooth over per-request latency.
        self._burst = float(burst if burst is not None else rate)
        self._tokens = self._burst
        self._updated = clock()

    @property
    def rate(self) -> float:
        """Bytes per second; 0 when unlimited."""
        return self._rate

    def set_rate(self, rate: float, burst: float | None = None) -> None:
        """Change the rate (and burst; default one second's worth) from now on; debt is kept."""
        if rate < 0:
            raise ValueError("rate must not be negative")
        self._refill()
        self._rate = float(rate)
        self._burst = float(burst if burst is not None else rate)
        self._tokens = min(self._tokens, self._burst)

    def reserve(self, amount: int) -> float:
        """Take ``amount`` bytes' worth of tokens; returns the seconds to wait before using them
        (0.0 when they were there, or when there is no limit)."""
        if self._rate <= 0:
            return 0.0
        self._refill()
        self._tokens -= amount
        return 0.0 if self._tokens >= 0 else -self._tokens / self._rate

    async def acquire(self, amount: int, sleep: Sleep = asyncio.sleep) -> float:
        """Reserve ``amount`` and sleep until it may be used; returns the seconds waited."""
        delay = self.reserve(amount)
        if delay > 0:
            await sleep(delay)
        return delay

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._updated)
        self._updated = now
        self._tokens = min(self._burst, self._tokens + elapsed * self._rate)

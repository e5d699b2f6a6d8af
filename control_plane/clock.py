"""The clock seam: wall time for what operators read, monotonic time for liveness deadlines."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def wall_ms(self) -> int:
        """Unix time in milliseconds (shown to operators, persisted, sent on the wire)."""
        ...

    def monotonic_ms(self) -> int:
        """A clock that never jumps, for deadlines; only differences are meaningful."""
        ...


class SystemClock:
    """The real clock. Stateless, so safe across tasks and threads."""

    def wall_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic_ms(self) -> int:
        return time.monotonic_ns() // 1_000_000

"""Appliance load for bounded-load ranking: heartbeat connections plus steering's own recent picks.

Heartbeats arrive every second or so and the control plane publishes load-only changes even
less often, so a burst of viewers for one hot title would all be sent to the same appliance
before any report shows it. Steering therefore adds its own recent assignments, decaying
exponentially with time constant ``window`` seconds, on top of the reported connections.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class RecentAssignments:
    """A decaying count of assignments per appliance and per site. Not safe across threads
    (one event loop); the decay is lazy, so recording and reading cost O(1)."""

    def __init__(self, window: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        if window <= 0:
            raise ValueError("window must be positive")
        self._window = window
        self._clock = clock
        # key -> (value at time t, t); keys are appliance ids and ("site", name) pairs.
        self._counts: dict[object, tuple[float, float]] = {}

    def _decayed(self, key: object, now: float) -> float:
        entry = self._counts.get(key)
        if entry is None:
            return 0.0
        value, at = entry
        return value * math.exp((at - now) / self._window) if now > at else value

    def record(self, appliance_id: str, site: str) -> None:
        """Count one viewer sent to ``appliance_id`` of ``site`` now."""
        now = self._clock()
        self._counts[appliance_id] = (self._decayed(appliance_id, now) + 1.0, now)
        key = ("site", site)
        self._counts[key] = (self._decayed(key, now) + 1.0, now)
        if len(self._counts) > 100_000:
            self._prune(now)

    def appliance(self, appliance_id: str) -> float:
        """Recent assignments of one appliance (decayed)."""
        return self._decayed(appliance_id, self._clock())

    def site(self, site: str) -> float:
        """Recent assignments of a whole site (decayed)."""
        return self._decayed(("site", site), self._clock())

    def _prune(self, now: float) -> None:
        # Appliances that left the fleet would otherwise stay forever.
        self._counts = {k: v for k, v in self._counts.items() if self._decayed(k, now) > 0.01}


def load_bound(total_load: float, members: int, factor: float) -> float:
    """The most load one appliance may carry before it is pushed down the list.

    As HAProxy's hash-balance-factor (Mirrokni et al., consistent hashing with bounded loads):
    ``ceil(factor * (total + 1) / members)``, the +1 being the viewer being placed now. An
    appliance with ``load + 1 > bound`` is over. ``members`` 0 gives +inf.
    """
    if members <= 0:
        return math.inf
    return float(math.ceil(factor * (total_load + 1.0) / members))

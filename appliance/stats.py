"""ServingStats: the appliance's request counters, read by /metrics and by the heartbeat."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ServingStats:
    """Cumulative counters since start-up, except ``in_flight``. Mutated on the event loop only."""

    # Content requests answered from disk (304s included).
    hits: int = 0
    # Content requests that had to wait for an upstream fill (joiners of a shared fill included).
    misses: int = 0
    # Content requests that failed after the token check: unknown content, upstream or disk errors.
    errors: int = 0
    # Requests refused because their token was bad, expired or for another title (403).
    rejected: int = 0
    # Body bytes sent for hits and for misses.
    hit_bytes: int = 0
    miss_bytes: int = 0
    # HTTP requests being handled right now (the heartbeat's "connections").
    in_flight: int = 0

    @property
    def requests(self) -> int:
        """Content requests that passed the token check."""
        return self.hits + self.misses + self.errors

    @property
    def bytes_sent(self) -> int:
        return self.hit_bytes + self.miss_bytes

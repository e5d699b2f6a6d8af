"""ServingStats: the appliance's request counters, read by /metrics and by the heartbeat."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields


@dataclass
class ServingStats:
    """Cumulative counters since start-up, except ``in_flight``.

    Mutated by one event loop only: each loop of the fast server has its own instance.
    """

    # Content requests answered from disk (304s included).
    hits: int = 0
    # Content requests that had to wait for a fill from the origin (joiners of a shared fill included).
    misses: int = 0
    # Content requests that had to wait for a fill from a site peer.
    peer_fills: int = 0
    # Content requests that failed after the token check: unknown content, upstream or disk errors.
    errors: int = 0
    # Requests refused because their token was bad, expired or for another title (403).
    rejected: int = 0
    # Body bytes sent for hits and for misses.
    hit_bytes: int = 0
    miss_bytes: int = 0
    peer_fill_bytes: int = 0
    # Body bytes of error responses (JSON bodies; small).
    error_bytes: int = 0
    # Requests that joined a fill or a read-back check already running for their chunk.
    flight_waits: int = 0
    # Requests from site peers filling their own miss (X-Streamfleet-Peer-Fill).
    peer_requests: int = 0
    # HTTP requests being handled right now (the heartbeat's "connections").
    in_flight: int = 0

    @classmethod
    def sum(cls, parts: Sequence[ServingStats]) -> ServingStats:
        """Field-by-field sum of several loops' counters."""
        total = cls()
        for f in fields(cls):
            setattr(total, f.name, sum(getattr(part, f.name) for part in parts))
        return total

    @property
    def requests(self) -> int:
        """Content requests that passed the token check."""
        return self.hits + self.misses + self.peer_fills + self.errors

    @property
    def bytes_sent(self) -> int:
        return self.hit_bytes + self.miss_bytes + self.peer_fill_bytes + self.error_bytes

    def count(self, result: str, sent: int) -> None:
        """Count one finished content request: ``result`` is hit|miss|peer_fill|error."""
        if result == "hit":
            self.hits += 1
            self.hit_bytes += sent
        elif result == "miss":
            self.misses += 1
            self.miss_bytes += sent
        elif result == "peer_fill":
            self.peer_fills += 1
            self.peer_fill_bytes += sent
        else:
            self.errors += 1
            self.error_bytes += sent

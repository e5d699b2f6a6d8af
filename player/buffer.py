"""A simulated playback clock: counts stalls from download times, without sleeping."""

from __future__ import annotations


class PlaybackBuffer:
    """Tracks what a player would have buffered and played, given when each segment arrived.

    Playback starts when the first segment arrives and runs at ``speed`` media seconds per
    second of the clock (1.0: real time; tests speed it up); when the next segment arrives after
    the buffer ran dry, the gap is a stall and playback resumes on its arrival. Times are seconds
    on any monotonic clock; ``stall_s`` is clock seconds, levels and positions are media seconds.
    Not safe for concurrent use.
    """

    def __init__(self, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self.started_at: float | None = None
        self.buffered_s = 0.0  # media seconds received
        self.stalls = 0
        self.stall_s = 0.0

    def position(self, at: float) -> float:
        """Media seconds played by time ``at``, as if nothing ran dry (0 before the start)."""
        if self.started_at is None:
            return 0.0
        return (at - self.started_at - self.stall_s) * self.speed

    def played(self, at: float) -> float:
        """Media seconds actually played by time ``at`` (never more than was received)."""
        return min(self.position(at), self.buffered_s)

    def level(self, at: float) -> float:
        """Seconds of media buffered ahead of the playhead at time ``at`` (never negative)."""
        return max(0.0, self.buffered_s - self.position(at))

    def wait_for_level(self, at: float, target: float) -> float:
        """Clock seconds from ``at`` until the buffer has drained to ``target`` media seconds
        (0.0 when it already has). Used to fetch ahead only up to a buffer target."""
        return max(0.0, self.level(at) - target) / self.speed

    def add(self, at: float, duration: float) -> float:
        """Record a segment of ``duration`` seconds that finished downloading at ``at``.

        Returns the stall (clock seconds) this segment ended, 0.0 when it came in time.
        """
        stall = 0.0
        if self.started_at is None:
            self.started_at = at
        else:
            stall = max(0.0, self.position(at) - self.buffered_s) / self.speed
            if stall > 0:
                self.stalls += 1
                self.stall_s += stall
        self.buffered_s += duration
        return stall

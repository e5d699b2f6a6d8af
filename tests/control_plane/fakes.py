"""Test doubles for control-plane unit tests."""

from __future__ import annotations


class FakeClock:
    """A clock that moves only when told to; wall and monotonic time advance together."""

    def __init__(self, wall_ms: int = 1_700_000_000_000, monotonic_ms: int = 5_000) -> None:
        self._wall = wall_ms
        self._mono = monotonic_ms

    def wall_ms(self) -> int:
        return self._wall

    def monotonic_ms(self) -> int:
        return self._mono

    def advance(self, ms: int) -> None:
        self._wall += ms
        self._mono += ms

"""Belady's offline policy: evict the cached key whose next request is furthest in the future.

It needs the whole trace up front, so it is a yardstick for simulations, not a policy a store
can use. With unit sizes it is optimal among policies that admit every miss, and it matches
libCacheSim's ``Belady`` exactly (ties are possible only among keys never requested again,
and which of those goes first changes no count). With variable sizes, evicting the furthest
next request until the new key fits is only a heuristic: the optimum is NP-hard (Berger et al.,
"Practical bounds on optimal caching with variable object sizes", SIGMETRICS 2018). Like
libCacheSim it admits every miss that fits the capacity, even one never requested again.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Sequence
from typing import Generic

from .base import K


def next_uses(keys: Sequence[Hashable]) -> list[int]:
    """For each position, the position of the next request of the same key.

    Keys never requested again get ``len(keys) + position``: further than any real request, and
    distinct, so a heap of them never compares keys.
    """
    n = len(keys)
    out = [0] * n
    last: dict[Hashable, int] = {}
    for i in range(n - 1, -1, -1):
        key = keys[i]
        out[i] = last.get(key, n + i)
        last[key] = i
    return out


class Belady(Generic[K]):
    """Replays ``requests`` in order through Belady's policy. Not safe for concurrent access."""

    name = "belady"

    def __init__(self, capacity_bytes: int, requests: Sequence[tuple[K, int]]) -> None:
        if capacity_bytes <= 0:
            raise ValueError(f"capacity_bytes must be positive, got {capacity_bytes}")
        self.capacity_bytes = capacity_bytes
        self._keys = [key for key, _ in requests]
        self._next = next_uses(self._keys)
        self._pos = 0
        # key -> (size, position of its next request); the heap holds (-next, key), stale entries skipped.
        self._cached: dict[K, tuple[int, int]] = {}
        self._heap: list[tuple[int, K]] = []
        self.used_bytes = 0

    def __len__(self) -> int:
        return len(self._cached)

    def __contains__(self, key: object) -> bool:
        return key in self._cached

    def request(self, key: K, size: int) -> bool:
        """The next request of the trace; True on a hit. Raises ValueError when out of trace order."""
        pos = self._pos
        if pos >= len(self._keys) or self._keys[pos] != key:
            raise ValueError(f"request {pos} is not the trace's request {pos} ({key!r})")
        self._pos = pos + 1
        nxt = self._next[pos]
        held = self._cached.get(key)
        if held is not None:
            self._cached[key] = (held[0], nxt)
            heapq.heappush(self._heap, (-nxt, key))
            return True
        if size > self.capacity_bytes:
            return False
        while self.used_bytes + size > self.capacity_bytes:
            neg, victim = heapq.heappop(self._heap)
            entry = self._cached.get(victim)
            if entry is None or entry[1] != -neg:
                continue  # stale: the key was requested again or already evicted
            del self._cached[victim]
            self.used_bytes -= entry[0]
        self._cached[key] = (size, nxt)
        self.used_bytes += size
        heapq.heappush(self._heap, (-nxt, key))
        return False

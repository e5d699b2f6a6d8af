"""FIFO and LRU: one ordered dict each, O(1) per operation."""

from __future__ import annotations

from collections import OrderedDict

from .base import K, PolicyBase


class FIFO(PolicyBase[K]):
    """First in, first out: a hit changes nothing. A key unpinned re-enters at the young end."""

    name = "fifo"

    def __init__(self, capacity_bytes: int) -> None:
        super().__init__(capacity_bytes)
        # Oldest insertion first; values unused (an ordered set of the unpinned keys).
        self._order: OrderedDict[K, None] = OrderedDict()

    def _on_insert(self, key: K, size: int) -> None:
        self._order[key] = None

    def _on_hit(self, key: K) -> None:
        pass

    def _on_remove(self, key: K, size: int, parked: bool) -> None:
        if not parked:
            del self._order[key]

    def _victim(self) -> K:
        return next(iter(self._order))

    def _detach(self, key: K) -> None:
        del self._order[key]

    def _attach(self, key: K) -> None:
        self._order[key] = None


class LRU(FIFO[K]):
    """Least recently used first: a hit moves the key to the young end."""

    name = "lru"

    def _on_hit(self, key: K) -> None:
        self._order.move_to_end(key)

"""SIEVE (Zhang et al., NSDI 2024): a FIFO queue with a visited bit and a hand that sweeps from old to new.

A hit only sets the key's visited bit. To evict, the hand walks from where it stopped towards
the young end, clearing visited bits, and stops at the first unvisited key; new keys go in at
the young end, behind the hand. Matches libCacheSim's ``Sieve`` exactly on unit sizes.
Amortised O(1): each step of the hand clears a bit that a hit had to set.
"""

from __future__ import annotations

from typing import Generic

from .base import K, PolicyBase


class _Node(Generic[K]):
    __slots__ = ("key", "older", "newer", "visited")

    def __init__(self, key: K) -> None:
        self.key = key
        self.older: _Node[K] | None = None
        self.newer: _Node[K] | None = None
        self.visited = False


class SIEVE(PolicyBase[K]):
    """SIEVE eviction; a key unpinned re-enters at the young end, visited."""

    name = "sieve"

    def __init__(self, capacity_bytes: int) -> None:
        super().__init__(capacity_bytes)
        self._nodes: dict[K, _Node[K]] = {}
        self._oldest: _Node[K] | None = None
        self._newest: _Node[K] | None = None
        # Where the last sweep stopped; None means "start again from the oldest key".
        self._hand: _Node[K] | None = None

    def _link_newest(self, node: _Node[K]) -> None:
        node.older = self._newest
        node.newer = None
        if self._newest is not None:
            self._newest.newer = node
        else:
            self._oldest = node
        self._newest = node

    def _unlink(self, node: _Node[K]) -> None:
        if node is self._hand:
            self._hand = node.newer
        if node.older is not None:
            node.older.newer = node.newer
        else:
            self._oldest = node.newer
        if node.newer is not None:
            node.newer.older = node.older
        else:
            self._newest = node.older

    def _on_insert(self, key: K, size: int) -> None:
        node: _Node[K] = _Node(key)
        self._nodes[key] = node
        self._link_newest(node)

    def _on_hit(self, key: K) -> None:
        self._nodes[key].visited = True

    def _on_remove(self, key: K, size: int, parked: bool) -> None:
        node = self._nodes.pop(key)
        if not parked:
            self._unlink(node)

    def _victim(self) -> K:
        node = self._hand if self._hand is not None else self._oldest
        assert node is not None  # the base class checked that an unpinned key exists
        while node.visited:
            node.visited = False
            node = node.newer if node.newer is not None else self._oldest
            assert node is not None
        # Idempotent until the victim is removed: the hand rests on it, and _unlink moves it on.
        self._hand = node
        return node.key

    def _detach(self, key: K) -> None:
        self._unlink(self._nodes[key])

    def _attach(self, key: K) -> None:
        node = self._nodes[key]
        node.visited = True
        self._link_newest(node)

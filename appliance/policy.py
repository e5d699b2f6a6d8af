"""Eviction policies: they only decide the order in which the store gives chunks up.

A policy knows keys (and sizes, for size-aware policies) but never touches the disk; the
:class:`~appliance.store.ChunkStore` owns files, byte accounting and locking. Policies are not
safe for concurrent access: the store calls them under its lock.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Container
from typing import Protocol, runtime_checkable

from streamfleet.addressing import ChunkKey


class EvictionPolicy(Protocol):
    """Orders the store's chunks for eviction."""

    def insert(self, key: ChunkKey, size: int) -> None:
        """Start tracking ``key`` (a new chunk of ``size`` bytes); re-inserting counts as a use."""
        ...

    def touch(self, key: ChunkKey) -> None:
        """Record a use of ``key``; unknown keys are ignored."""
        ...

    def remove(self, key: ChunkKey) -> None:
        """Stop tracking ``key``; unknown keys are ignored."""
        ...

    def victim(self, pinned: Container[ChunkKey]) -> ChunkKey | None:
        """The key to evict next, skipping ``pinned`` keys; None when no key may be evicted.

        Does not remove the key: the store calls :meth:`remove` once the chunk is gone.
        """
        ...


@runtime_checkable
class PinnablePolicy(EvictionPolicy, Protocol):
    """A policy that can set pinned keys aside, so :meth:`victim` never has to skip over them.

    The store pins the chunks of the fill manifest's titles this way (most of a full disk), which
    keeps choosing a victim O(1) instead of O(pinned keys).
    """

    def pin(self, key: ChunkKey) -> None:
        """Take a tracked ``key`` out of the eviction order until :meth:`unpin`."""
        ...

    def unpin(self, key: ChunkKey) -> None:
        """Put a pinned ``key`` back into the eviction order, as just used."""
        ...


class LRUPolicy:
    """Least recently used first. O(1) insert/touch/remove; victim is O(1 + pinned keys skipped)."""

    def __init__(self) -> None:
        # Oldest use first; values unused (an ordered set).
        self._order: OrderedDict[ChunkKey, None] = OrderedDict()
        # Pinned keys, out of the order until unpinned.
        self._parked: set[ChunkKey] = set()

    def __len__(self) -> int:
        return len(self._order) + len(self._parked)

    def insert(self, key: ChunkKey, size: int) -> None:
        if key in self._parked:
            return
        self._order[key] = None
        self._order.move_to_end(key)

    def touch(self, key: ChunkKey) -> None:
        if key in self._order:
            self._order.move_to_end(key)

    def remove(self, key: ChunkKey) -> None:
        self._order.pop(key, None)
        self._parked.discard(key)

    def pin(self, key: ChunkKey) -> None:
        if key in self._order:
            del self._order[key]
            self._parked.add(key)

    def unpin(self, key: ChunkKey) -> None:
        if key in self._parked:
            self._parked.discard(key)
            self._order[key] = None

    def victim(self, pinned: Container[ChunkKey]) -> ChunkKey | None:
        for key in self._order:
            if key not in pinned:
                return key
        return None

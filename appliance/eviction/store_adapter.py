"""``StoreAdapter``: any :class:`~.base.CachePolicy` behind the chunk store's seam.

The :class:`~appliance.store.ChunkStore` owns pins itself and asks its policy for
``victim(pinned) -> key | None`` (``appliance.policy.EvictionPolicy``); this adapter satisfies
that protocol structurally, so ``ChunkStore(..., policy=StoreAdapter(make_policy("streamfleet",
capacity)))`` uses any policy of this package without either side importing the other.
"""

from __future__ import annotations

from collections.abc import Container, Hashable
from typing import Generic

from .base import CachePolicy, K
from .errors import NoVictim


class StoreAdapter(Generic[K]):
    """Drives a :class:`CachePolicy` through ``insert/touch/remove/victim(pinned)``. Not thread-safe.

    Keys the store reports as pinned are pinned in the policy while the victim is chosen and
    unpinned afterwards, which re-enters them as just used (a chunk being served is in use).
    Costs O(pinned keys met) per victim, as scanning past them would.
    """

    def __init__(self, policy: CachePolicy[K]) -> None:
        self.policy = policy

    def __len__(self) -> int:
        return len(self.policy)

    def insert(self, key: K, size: int) -> None:
        self.policy.insert(key, size)

    def touch(self, key: K) -> None:
        self.policy.touch(key)

    def remove(self, key: K) -> None:
        self.policy.remove(key)

    def pin(self, key: K) -> None:
        """Park ``key`` (held) outside the eviction order until :meth:`unpin`; pins nest."""
        self.policy.pin(key)

    def unpin(self, key: K) -> None:
        """Release one :meth:`pin`; the key comes back as just used."""
        self.policy.unpin(key)

    def victim(self, pinned: Container[Hashable]) -> K | None:
        """The next victim not in ``pinned``; None when the policy is empty or every key is pinned."""
        skipped: list[K] = []
        try:
            while True:
                try:
                    key = self.policy.victim()
                except NoVictim:
                    return None
                if key not in pinned:
                    return key
                self.policy.pin(key)
                skipped.append(key)
        finally:
            for key in skipped:
                self.policy.unpin(key)

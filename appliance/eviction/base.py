"""The policy interface (:class:`CachePolicy`) and the shared byte accounting and pin bookkeeping.

In the manner of cachetools, a policy decides only the *order* of eviction. :class:`PolicyBase`
owns everything else — sizes, used bytes, pins, the ``request`` simulation loop — and calls a
handful of hooks that each policy implements. Pinned keys are *parked*: taken out of the
policy's eviction order while pinned and put back (as just used) on the last unpin, so pins
cost O(1) and :meth:`victim` never has to skip over them.

Not safe for concurrent access: a store calls a policy under its own lock.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import ClassVar, Generic, Protocol, TypeVar

from .errors import NotCached, NoVictim

K = TypeVar("K", bound=Hashable)


class CachePolicy(Protocol[K]):
    """A size-aware eviction policy: ``request`` for simulation, plus a byte-bounded store's primitives."""

    @property
    def capacity_bytes(self) -> int: ...

    @property
    def used_bytes(self) -> int: ...

    def __len__(self) -> int: ...

    def __contains__(self, key: object) -> bool: ...

    def request(self, key: K, size: int) -> bool:
        """Simulate one request: True on a hit; on a miss admit ``key`` (evicting as needed), False."""
        ...

    def insert(self, key: K, size: int) -> None:
        """Start tracking ``key`` of ``size`` bytes (no eviction); re-inserting a held key counts as a use."""
        ...

    def touch(self, key: K) -> None:
        """Record a use of ``key``; unknown keys are ignored."""
        ...

    def remove(self, key: K) -> None:
        """Stop tracking ``key`` (evicted or deleted), pinned or not; unknown keys are ignored."""
        ...

    def victim(self) -> K:
        """The key to evict next (not removed). Raises NoVictim when empty or when every key is pinned."""
        ...

    def pin(self, key: K) -> None:
        """Protect ``key`` from eviction until a matching :meth:`unpin`; pins nest. Raises NotCached."""
        ...

    def unpin(self, key: K) -> None:
        """Release one :meth:`pin`. Raises NotCached when ``key`` is not pinned."""
        ...


class PolicyBase(Generic[K]):
    """Byte accounting, pins and the ``request`` loop; subclasses implement the ``_hooks``."""

    name: ClassVar[str] = "base"

    def __init__(self, capacity_bytes: int) -> None:
        if capacity_bytes <= 0:
            raise ValueError(f"capacity_bytes must be positive, got {capacity_bytes}")
        self._capacity = capacity_bytes
        self._sizes: dict[K, int] = {}
        self._used = 0
        # key -> number of outstanding pins (> 0); pinned keys are not in the eviction order.
        self._pins: dict[K, int] = {}
        self._pinned_bytes = 0

    # -- reading -------------------------------------------------------------------------

    @property
    def capacity_bytes(self) -> int:
        return self._capacity

    @property
    def used_bytes(self) -> int:
        """Bytes of every held key, pinned ones included."""
        return self._used

    @property
    def pinned_bytes(self) -> int:
        return self._pinned_bytes

    def __len__(self) -> int:
        return len(self._sizes)

    def __contains__(self, key: object) -> bool:
        return key in self._sizes

    def size_of(self, key: K) -> int:
        """The size ``key`` was inserted with. Raises NotCached."""
        try:
            return self._sizes[key]
        except KeyError:
            raise NotCached(f"{key!r} is not cached") from None

    def is_pinned(self, key: K) -> bool:
        return key in self._pins

    # -- simulation ----------------------------------------------------------------------

    def request(self, key: K, size: int) -> bool:
        """Replay one request; True on a hit.

        On a miss the key is admitted (evicting victims until it fits) unless it is larger than
        the whole capacity or the policy's admission rule turns it away. Raises NoVictim, having
        evicted nothing, when the key would fit only by evicting pinned keys.
        """
        if key in self._sizes:
            if key in self._pins:
                self._on_pinned_hit(key)
            else:
                self._on_hit(key)
            return True
        self._on_miss(key, size)
        if size > self._capacity or not self._admit(key, size):
            self._on_reject(key, size)
            return False
        if self._pinned_bytes + size > self._capacity:
            pinned = f"{len(self._pins)} keys, {self._pinned_bytes} bytes"
            raise NoVictim(f"{self.name}: {size} bytes fit only by evicting pinned keys ({pinned})")
        self.make_room(size)
        self.insert(key, size)
        return False

    def make_room(self, size: int) -> int:
        """Evict until ``size`` more bytes fit; returns how many keys were evicted. Raises NoVictim."""
        evicted = 0
        while self._used + size > self._capacity:
            self.remove(self.victim())
            evicted += 1
        return evicted

    # -- store primitives ----------------------------------------------------------------

    def insert(self, key: K, size: int) -> None:
        if size < 0:
            raise ValueError(f"size must not be negative, got {size}")
        old = self._sizes.get(key)
        if old is not None:
            # Keys are immutable; a re-fill of the same key replaces it in place and counts as a use.
            self._sizes[key] = size
            self._used += size - old
            if key in self._pins:
                self._pinned_bytes += size - old
            self._resize(key, old, size)
            self.touch(key)
            return
        self._sizes[key] = size
        self._used += size
        self._on_insert(key, size)

    def touch(self, key: K) -> None:
        if key not in self._sizes:
            return
        if key in self._pins:
            self._on_pinned_hit(key)
        else:
            self._on_hit(key)

    def remove(self, key: K) -> None:
        size = self._sizes.pop(key, None)
        if size is None:
            return
        self._used -= size
        parked = self._pins.pop(key, None) is not None
        if parked:
            self._pinned_bytes -= size
        self._on_remove(key, size, parked)

    def victim(self) -> K:
        if not self._sizes:
            raise NoVictim(f"{self.name}: nothing is cached")
        if len(self._pins) == len(self._sizes):
            pinned = f"{len(self._pins)} keys, {self._pinned_bytes} bytes"
            raise NoVictim(f"{self.name}: every cached key is pinned ({pinned}); nothing may be evicted")
        return self._victim()

    def pin(self, key: K) -> None:
        if key not in self._sizes:
            raise NotCached(f"cannot pin {key!r}: it is not cached")
        count = self._pins.get(key, 0)
        if count == 0:
            self._pinned_bytes += self._sizes[key]
            self._detach(key)
        self._pins[key] = count + 1

    def unpin(self, key: K) -> None:
        count = self._pins.get(key, 0)
        if count == 0:
            raise NotCached(f"cannot unpin {key!r}: it is not pinned")
        if count > 1:
            self._pins[key] = count - 1
            return
        del self._pins[key]
        self._pinned_bytes -= self._sizes[key]
        self._attach(key)

    # -- hooks ---------------------------------------------------------------------------

    def _on_miss(self, key: K, size: int) -> None:
        """A request for an absent key, before admission and eviction (history lookups go here)."""

    def _admit(self, key: K, size: int) -> bool:
        """Whether ``request`` caches a missed key that fits the capacity (``insert`` always does)."""
        return True

    def _on_reject(self, key: K, size: int) -> None:
        """A missed key that ``request`` did not cache (too large, or turned away by ``_admit``)."""

    def _on_insert(self, key: K, size: int) -> None:
        """Place a new, unpinned key in the eviction order."""
        raise NotImplementedError

    def _on_hit(self, key: K) -> None:
        """A use of a held, unpinned key."""
        raise NotImplementedError

    def _on_pinned_hit(self, key: K) -> None:
        """A use of a pinned (parked) key; most policies let :meth:`_attach` account for it."""

    def _on_remove(self, key: K, size: int, parked: bool) -> None:
        """Forget ``key``; ``parked`` means it was pinned and so is not in the eviction order."""
        raise NotImplementedError

    def _victim(self) -> K:
        """The next victim among the unpinned keys (at least one exists)."""
        raise NotImplementedError

    def _detach(self, key: K) -> None:
        """Take a key out of the eviction order because it was pinned (keep its metadata)."""
        raise NotImplementedError

    def _attach(self, key: K) -> None:
        """Put a key back into the eviction order on its last unpin, as just used."""
        raise NotImplementedError

    def _resize(self, key: K, old: int, new: int) -> None:
        """A held key was re-inserted with another size (byte-tracking policies adjust their queues)."""

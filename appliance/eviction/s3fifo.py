"""S3-FIFO (Yang et al., SOSP 2023) as libCacheSim's ``S3FIFO`` implements it: small + main FIFOs and a ghost.

New keys enter the small FIFO (10% of the bytes) unless the ghost remembers them, in which
case they go straight to the main FIFO. Evicting from small moves a key that was hit at least
``move_to_main_threshold`` times to main and sends the others to the ghost (a FIFO of keys
worth 90% of the capacity); main is a 2-bit CLOCK. libCacheSim's default threshold is 2 (two
hits while in small); the S3-FIFO paper and blog illustrate threshold 1. Like libCacheSim, new
keys go to main while the small queue is full before the first eviction.

Deviations, all outside the reference runs: the small queue holds at least one byte (libCacheSim
caches nothing when 10% of the capacity rounds to zero), and :meth:`insert` (the store path)
puts a key too large for the small queue in main instead of refusing it.
"""

from __future__ import annotations

from collections import OrderedDict

from .base import K, PolicyBase


class S3FIFO(PolicyBase[K]):
    """S3-FIFO; a key unpinned re-enters main as just used. Amortised O(1) per request."""

    name = "s3fifo"

    def __init__(
        self,
        capacity_bytes: int,
        small_ratio: float = 0.10,
        ghost_ratio: float = 0.90,
        move_to_main_threshold: int = 2,
    ) -> None:
        super().__init__(capacity_bytes)
        if not 0.0 < small_ratio < 1.0 or ghost_ratio < 0.0 or move_to_main_threshold < 1:
            raise ValueError("need 0 < small_ratio < 1, ghost_ratio >= 0, move_to_main_threshold >= 1")
        self._small_cap = max(1, int(capacity_bytes * small_ratio))
        self._main_cap = capacity_bytes - self._small_cap
        self._ghost_cap = int(capacity_bytes * ghost_ratio)
        self._threshold = move_to_main_threshold
        # key -> hits since it entered its queue; oldest first.
        self._small: OrderedDict[K, int] = OrderedDict()
        self._main: OrderedDict[K, int] = OrderedDict()
        self._small_bytes = 0
        self._main_bytes = 0
        # Keys evicted from small, with their sizes; oldest first. Bounded by ghost bytes.
        self._ghost: OrderedDict[K, int] = OrderedDict()
        self._ghost_bytes = 0
        self._ghost_hit: K | None = None
        self._has_evicted = False
        # The victim chosen by the last _victim call; valid until it is hit, removed or pinned.
        self._pending: K | None = None
        self._parked: dict[K, int] = {}

    # -- hooks ---------------------------------------------------------------------------

    def _on_miss(self, key: K, size: int) -> None:
        self._ghost_hit = key if self._pop_ghost(key) else None

    def _admit(self, key: K, size: int) -> bool:
        return size <= self._small_cap

    def _on_insert(self, key: K, size: int) -> None:
        remembered = self._ghost_hit == key or self._pop_ghost(key)
        self._ghost_hit = None
        small_full = not self._has_evicted and self._small_bytes >= self._small_cap
        if remembered or small_full or size >= self._small_cap:
            self._main[key] = 0
            self._main_bytes += size
        else:
            self._small[key] = 0
            self._small_bytes += size

    def _on_hit(self, key: K) -> None:
        if key == self._pending:
            self._pending = None
        if key in self._small:
            self._small[key] += 1
        else:
            self._main[key] += 1

    def _on_remove(self, key: K, size: int, parked: bool) -> None:
        if key == self._pending:
            self._pending = None
        if parked:
            del self._parked[key]
        elif key in self._small:
            del self._small[key]
            self._small_bytes -= size
            self._ghost[key] = size
            self._ghost_bytes += size
            while self._ghost_bytes > self._ghost_cap and self._ghost:
                _, gone = self._ghost.popitem(last=False)
                self._ghost_bytes -= gone
        else:
            del self._main[key]
            self._main_bytes -= size

    def _victim(self) -> K:
        if self._pending is not None:
            return self._pending
        self._has_evicted = True
        sizes = self._sizes
        # Decide the queue once, as libCacheSim does: a sweep of small that moves keys to main
        # keeps going until it finds a victim in small, even if main grows past its share.
        victim: K | None = None
        if self._main_bytes > self._main_cap or not self._small:
            victim = self._sweep_main()
        else:
            small = self._small
            while small:
                key, hits = next(iter(small.items()))
                if hits < self._threshold:
                    victim = key
                    break
                del small[key]
                size = sizes[key]
                self._small_bytes -= size
                self._main[key] = 0
                self._main_bytes += size
        if victim is None:
            victim = self._sweep_main()
        self._pending = victim
        return victim

    def _sweep_main(self) -> K:
        main = self._main
        while True:
            key, hits = next(iter(main.items()))
            if hits == 0:
                return key
            # 2-bit CLOCK: reinsert at the young end with one use fewer (uses capped at 3).
            main.move_to_end(key)
            main[key] = min(hits, 3) - 1

    def _detach(self, key: K) -> None:
        if key == self._pending:
            self._pending = None
        size = self._sizes[key]
        if key in self._small:
            self._parked[key] = self._small.pop(key)
            self._small_bytes -= size
        else:
            self._parked[key] = self._main.pop(key)
            self._main_bytes -= size

    def _attach(self, key: K) -> None:
        self._main[key] = min(self._parked.pop(key) + 1, 3)
        self._main_bytes += self._sizes[key]

    def _resize(self, key: K, old: int, new: int) -> None:
        if key in self._small:
            self._small_bytes += new - old
        elif key in self._main:
            self._main_bytes += new - old

    def _pop_ghost(self, key: K) -> bool:
        size = self._ghost.pop(key, None)
        if size is None:
            return False
        self._ghost_bytes -= size
        return True

"""The ``streamfleet`` policy: an adaptive recency window in front of a segment for keys with reuse evidence.

1. Two LRU segments, accounted in bytes. The *window* holds keys with no evidence of reuse;
   *main* holds keys with evidence: a hit while cached, or a past use remembered by the history.
2. The *history* remembers evicted keys and their use counts, bounded at ``history_factor``
   times the number of cached keys. Reuse evidence thus outlives eviction: a title watched
   again hours later goes straight to main, while one-hit wonders never get past the window.
3. The window's share adapts by ARC's rule (Megiddo and Modha, FAST 2003), in bytes: short
   ghosts (at most a capacity's worth of bytes each) remember what each segment evicted; a miss
   on a key the window evicted recently grows the window target, one on a key main evicted
   shrinks it. Small caches learn a large window (recency pays), large ones a small window.
4. Size- and popularity-aware eviction from main: among its ``size_sample`` least recently used
   keys, the one with the fewest uses per byte goes first (a sampled GreedyDual-Size-Frequency).
   With unit sizes that is the least used of the oldest few.
5. Chunk traffic: evidence is per chunk, not per title. A first viewing of a title is a scan of
   new segments and stays in the window; segments that viewers actually come back to (the first
   minutes of a popular title, in the renditions people watch) collect evidence and move to main.

Every operation is O(1) except eviction from main, O(``size_sample``). Pinned keys are parked
(see :mod:`.base`) and come back into main on their last unpin.
"""

from __future__ import annotations

from collections import OrderedDict

from .base import K, PolicyBase


class StreamfleetPolicy(PolicyBase[K]):
    """Adaptive window + history-admitted main; see the module docstring. Not safe for concurrent access."""

    name = "streamfleet"

    def __init__(self, capacity_bytes: int, history_factor: float = 8.0, size_sample: int = 4) -> None:
        """``history_factor``: keys remembered after eviction, per cached key (0 = no history).

        ``size_sample``: how many of main's oldest keys compete on uses per byte (1 = plain LRU).
        """
        super().__init__(capacity_bytes)
        if history_factor < 0 or size_sample < 1:
            raise ValueError("need history_factor >= 0 and size_sample >= 1")
        self._history_factor = history_factor
        self._size_sample = size_sample
        # Oldest use first; values unused.
        self._window: OrderedDict[K, None] = OrderedDict()
        self._main: OrderedDict[K, None] = OrderedDict()
        self._window_bytes = 0
        self._main_bytes = 0
        # Uses of each cached key, including the uses its history remembered.
        self._uses: dict[K, int] = {}
        # Evicted key -> uses; oldest eviction first.
        self._history: OrderedDict[K, int] = OrderedDict()
        # Recently evicted key -> size, per segment; each holds at most capacity_bytes.
        self._window_ghost: OrderedDict[K, int] = OrderedDict()
        self._main_ghost: OrderedDict[K, int] = OrderedDict()
        self._window_ghost_bytes = 0
        self._main_ghost_bytes = 0
        # Target bytes of the window; starts at 0 like ARC's p and moves within [0, capacity].
        self._target = 0.0
        # (key, uses remembered or 0) of the miss being handled, between _on_miss and _on_insert.
        self._recalled: tuple[K, int] | None = None

    @property
    def window_target(self) -> float:
        """The learnt target size of the window, in bytes."""
        return self._target

    # -- history -------------------------------------------------------------------------

    def _recall(self, key: K, size: int) -> int:
        """Adapt the window target on a ghost hit and return the key's remembered uses (0 if none)."""
        ghost = self._window_ghost.pop(key, None)
        if ghost is not None:
            others = self._main_ghost_bytes / self._window_ghost_bytes if self._window_ghost_bytes else 1.0
            self._window_ghost_bytes -= ghost
            self._target = min(float(self._capacity), self._target + size * max(1.0, others))
        else:
            ghost = self._main_ghost.pop(key, None)
            if ghost is not None:
                others = self._window_ghost_bytes / self._main_ghost_bytes if self._main_ghost_bytes else 1.0
                self._main_ghost_bytes -= ghost
                self._target = max(0.0, self._target - size * max(1.0, others))
        return self._history.pop(key, 0)

    def _remember(self, key: K, uses: int) -> None:
        history = self._history
        history[key] = uses
        bound = self._history_factor * max(len(self._sizes), 1)
        while len(history) > bound:
            history.popitem(last=False)

    # -- hooks ---------------------------------------------------------------------------

    def _on_miss(self, key: K, size: int) -> None:
        self._recalled = (key, self._recall(key, size))

    def _on_reject(self, key: K, size: int) -> None:
        uses = self._recalled[1] if self._recalled is not None and self._recalled[0] == key else 0
        self._recalled = None
        self._remember(key, uses + 1)

    def _on_insert(self, key: K, size: int) -> None:
        recalled = self._recalled
        past = recalled[1] if recalled is not None and recalled[0] == key else self._recall(key, size)
        self._recalled = None
        self._uses[key] = past + 1
        if past:
            self._main[key] = None
            self._main_bytes += size
        else:
            self._window[key] = None
            self._window_bytes += size

    def _on_hit(self, key: K) -> None:
        self._uses[key] += 1
        if key in self._window:
            del self._window[key]
            size = self._sizes[key]
            self._window_bytes -= size
            self._main[key] = None
            self._main_bytes += size
        else:
            self._main.move_to_end(key)

    def _on_pinned_hit(self, key: K) -> None:
        self._uses[key] += 1

    def _on_remove(self, key: K, size: int, parked: bool) -> None:
        capacity = self._capacity
        if parked:
            pass
        elif key in self._window:
            del self._window[key]
            self._window_bytes -= size
            self._window_ghost[key] = size
            self._window_ghost_bytes += size
            while self._window_ghost_bytes > capacity:
                self._window_ghost_bytes -= self._window_ghost.popitem(last=False)[1]
        else:
            del self._main[key]
            self._main_bytes -= size
            self._main_ghost[key] = size
            self._main_ghost_bytes += size
            while self._main_ghost_bytes > capacity:
                self._main_ghost_bytes -= self._main_ghost.popitem(last=False)[1]
        self._remember(key, self._uses.pop(key))

    def _victim(self) -> K:
        if self._window and (self._window_bytes > self._target or not self._main):
            return next(iter(self._window))
        if self._size_sample == 1:
            return next(iter(self._main))
        uses, sizes = self._uses, self._sizes
        best: K | None = None
        best_value = 0.0
        for n, key in enumerate(self._main):
            if n == self._size_sample:
                break
            value = uses[key] / (sizes[key] or 1)
            if best is None or value < best_value:
                best, best_value = key, value
        assert best is not None  # main is not empty here
        return best

    def _detach(self, key: K) -> None:
        size = self._sizes[key]
        if key in self._window:
            del self._window[key]
            self._window_bytes -= size
        else:
            del self._main[key]
            self._main_bytes -= size

    def _attach(self, key: K) -> None:
        self._main[key] = None
        self._main_bytes += self._sizes[key]

    def _resize(self, key: K, old: int, new: int) -> None:
        if key in self._window:
            self._window_bytes += new - old
        elif key in self._main:
            self._main_bytes += new - old

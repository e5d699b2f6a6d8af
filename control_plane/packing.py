"""Packing one site: hottest title first, each onto the first appliances of its ranking with room.

This is the inner loop of fill planning (see ``planning.py``), kept apart because it is the
one place where speed matters. Titles of the previous plan (*incumbents*) hold their room from
the start, so a re-plan only moves what must move:

- An incumbent keeps the appliances it was on (the best-ranked ones if it now needs fewer),
  except that it moves back to its ideal appliances (the first ``count`` of its ranking) when
  those have room without displacing anyone: onto a new appliance, or where room was freed.
- A title placing a replica on an appliance that is short of room may displace incumbents
  that are less popular by more than ``margin``, least popular first; displaced titles are
  placed again at their own turn. So a new hot title lands where steering looks for it first,
  while noise in the popularity of the tail moves nothing.
- Without a previous plan this is exactly "the first ``count`` appliances of the title's
  ``Placement.rank`` that still have room", hottest title first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from streamfleet.placement import Placement

# Titles with at most half this many replicas take their first candidates from the heads of their
# rankings (one vectorised ``Placement.top_many`` call for all titles, see ``ranking_heads``);
# hot titles, and titles whose first candidates are all full, walk their full ``Placement.rank``.
PREFIX = 16
# At most this many incumbents are displaced to make room for one replica.
_MAX_DISPLACED = 32


class SitePacker:
    """One packing run. Single use: build, then call :meth:`pack` once. Not shared across threads."""

    def __init__(
        self,
        placement: Placement,
        capacities: Sequence[int],
        ids: Sequence[str],
        sizes: Sequence[int],
        scores: Sequence[float],
        margin: float,
    ) -> None:
        self._placement = placement
        self._index = {m.id: a for a, m in enumerate(placement.members)}
        self._n = len(placement.members)
        self._free = list(capacities)
        self._ids = ids
        self._sizes = sizes
        self._scores = scores
        self._keep_factor = 1.0 + margin
        self._pos: list[int] = []
        self._order: Sequence[int] = ()
        # title -> appliances whose room it holds from the previous plan (until its turn).
        self._reserved: dict[int, list[int]] = {}
        # appliance -> incumbents holding room on it, most popular first, so the least popular
        # (the first to be displaced) is last; entries before an already placed one never move.
        self._stacks: list[list[int]] = [[] for _ in range(self._n)]
        # appliance -> score of its displaceable incumbent (last of its stack); inf: none.
        self._floor = [math.inf] * self._n
        # Position in the order of the least popular title still holding room anywhere.
        self._tail = -1
        # An upper bound of max(free): exact when not stale.
        self._max_free = 0
        self._max_stale = False

    def pack(self, order: Sequence[int], counts: Sequence[int], incumbents: Mapping[int, Sequence[int]],
             heads: Sequence[list[int]]) -> dict[int, list[int]]:
        """Place titles in ``order`` (hottest first) with ``counts[i]`` replicas each.

        Appliances are indexes into ``placement.members``. ``incumbents`` maps a title to the
        appliances that held it in the previous plan; ``heads[i]`` is the first
        ``min(PREFIX, appliances)`` of title ``i``'s ranking (:func:`ranking_heads`). Returns
        title -> chosen appliances in ranking order; titles that fit nowhere are absent.
        """
        self._order = order
        self._pos = [0] * len(self._sizes)
        for p, i in enumerate(order):
            self._pos[i] = p
        self._reserve(order, incumbents)
        prefix_len = min(self._n, PREFIX)
        self._tail = len(order) - 1
        self._max_free = max(self._free, default=0)
        chosen_by_title: dict[int, list[int]] = {}
        for i in order:
            need = counts[i]
            chosen = self._place(i, need, heads[i] if need <= prefix_len // 2 else None, prefix_len)
            if chosen:
                chosen_by_title[i] = chosen
        return chosen_by_title

    def _reserve(self, order: Sequence[int], incumbents: Mapping[int, Sequence[int]]) -> None:
        """Hottest first, so an appliance that shrank keeps its most valuable incumbents."""
        free, sizes = self._free, self._sizes
        for i in order:
            holders = incumbents.get(i)
            if not holders:
                continue
            mine = []
            for a in holders:
                if free[a] >= sizes[i]:
                    free[a] -= sizes[i]
                    mine.append(a)
                    self._stacks[a].append(i)
            if mine:
                self._reserved[i] = mine
        for a, stack in enumerate(self._stacks):
            self._floor[a] = self._scores[stack[-1]] if stack else math.inf

    def _place(self, i: int, need: int, head: list[int] | None, prefix_len: int) -> list[int]:
        size = self._sizes[i]
        chosen = self._take_reserved(i)
        candidates: Sequence[int] | None = None
        if chosen:
            if head is not None and need == 1 and len(chosen) == 1:
                return self._settle_one(chosen, head, size)
            head = None
            candidates = self._rank(i)
            chosen = self._settle(chosen, need, candidates, size)
            if len(chosen) == need:
                return chosen
        incumbent = bool(chosen)
        limit = self._scores[i] / self._keep_factor if self._can_displace(i) else -math.inf
        if not self._could_fit(size, limit):
            return chosen
        if candidates is None:
            candidates = head if head is not None else self._rank(i)
        free, floor = self._free, self._floor
        while True:
            for a in candidates:
                if a in chosen:
                    continue
                if free[a] >= size or (floor[a] < limit and self._displace(a, i, size, limit)):
                    free[a] -= size
                    self._max_stale = True
                    chosen.append(a)
                    if len(chosen) == need:
                        break
            if len(chosen) == need or head is None or self._n <= prefix_len:
                break
            # Every candidate of the head was full: walk the rest of the full ranking.
            candidates, head = self._rank(i)[prefix_len:], None
        if incumbent and len(chosen) > 1:
            position = {a: p for p, a in enumerate(self._rank(i))}
            chosen.sort(key=position.__getitem__)
        return chosen

    def _rank(self, i: int) -> list[int]:
        """Title ``i``'s full ranking as appliance indexes."""
        index = self._index
        return [index[aid] for aid in self._placement.rank(self._ids[i])]

    def _take_reserved(self, i: int) -> list[int]:
        """Title ``i``'s turn: its reservations become placements, which nobody can displace."""
        mine = self._reserved.pop(i, [])
        for a in mine:
            if self._stacks[a][-1] == i:
                self._floor[a] = math.inf
        return mine

    def _settle_one(self, chosen: list[int], head: Sequence[int], size: int) -> list[int]:
        """:meth:`_settle` for the common case of one replica, without building a ranking map."""
        ideal = head[0]
        if chosen[0] != ideal and self._free[ideal] >= size:
            self._give_back(chosen[0], size)
            self._free[ideal] -= size
            self._max_stale = True
            return [ideal]
        return chosen

    def _settle(self, chosen: list[int], need: int, ranking: Sequence[int], size: int) -> list[int]:
        """An incumbent's replicas: its best-ranked previous ones, moved back to its ideal
        appliances (the first ``need`` of ``ranking``) where those have room without displacing
        anyone. Returned in ranking order."""
        free = self._free
        position = {a: p for p, a in enumerate(ranking)}
        chosen.sort(key=position.__getitem__)
        while len(chosen) > need:
            self._give_back(chosen.pop(), size)
        for a in ranking[:need]:
            if a in chosen or free[a] < size:
                continue
            if len(chosen) == need:
                if position[chosen[-1]] < need:
                    break
                self._give_back(chosen.pop(), size)
            free[a] -= size
            self._max_stale = True
            chosen.append(a)
            chosen.sort(key=position.__getitem__)
        return chosen

    def _give_back(self, a: int, size: int) -> None:
        self._free[a] += size
        self._max_free = max(self._max_free, self._free[a])

    def _could_fit(self, size: int, limit: float) -> bool:
        """False when no appliance has room for ``size`` even after displacing below ``limit``."""
        if limit > -math.inf:
            return any(f >= size or s < limit for f, s in zip(self._free, self._floor, strict=True))
        if size <= self._max_free:
            if not self._max_stale:
                return True
            self._max_free = max(self._free, default=0)
            self._max_stale = False
        return size <= self._max_free

    def _can_displace(self, i: int) -> bool:
        """True when some incumbent still holding room is less popular than ``i`` by the margin."""
        order, reserved = self._order, self._reserved
        while self._tail > self._pos[i] and order[self._tail] not in reserved:
            self._tail -= 1
        if self._tail <= self._pos[i]:
            return False
        return self._scores[order[self._tail]] * self._keep_factor < self._scores[i]

    def _displace(self, a: int, i: int, size: int, limit: float) -> bool:
        """Make room for ``size`` bytes on appliance ``a`` by displacing incumbents scoring below
        ``limit``, least popular first. Returns False (changing nothing) when that is not enough."""
        stack = self._stacks[a]
        room = self._free[a]
        j = len(stack)
        while room < size and j > 0 and len(stack) - j < _MAX_DISPLACED:
            u = stack[j - 1]
            if u not in self._reserved or self._scores[u] >= limit:
                break
            room += self._sizes[u]
            j -= 1
        if room < size:
            return False
        for u in stack[j:]:
            holders = self._reserved[u]
            holders.remove(a)
            if not holders:
                del self._reserved[u]
        del stack[j:]
        last = stack[-1] if stack else None
        self._floor[a] = self._scores[last] if last is not None and last in self._reserved else math.inf
        self._free[a] = room
        self._max_free = max(self._max_free, room)
        return True


def ranking_heads(placement: Placement, ids: Sequence[str]) -> np.ndarray:
    """The first ``min(PREFIX, members)`` of each title's ranking, as member indexes (int16 rows)."""
    index = {m.id: a for a, m in enumerate(placement.members)}
    width = min(PREFIX, len(placement.members))
    tops = placement.top_many(ids, width)
    return np.array([[index[x] for x in row] for row in tops], dtype=np.int16).reshape(len(ids), width)


class HeadCache:
    """Ranking heads per site and title, reused while the site's members stay the same (a ranking
    depends on nothing else), so a re-plan hashes only new titles. Memory: 2 bytes per head entry.
    Not safe across threads: one planning run at a time."""

    def __init__(self) -> None:
        # site -> (members, title -> row, rows)
        self._sites: dict[str, tuple[tuple[object, ...], dict[str, int], np.ndarray]] = {}

    def heads(self, site: str, placement: Placement, ids: list[str]) -> list[list[int]]:
        """:func:`ranking_heads` for ``site``, computing only the titles not cached yet."""
        cached = self._sites.get(site)
        if cached is None or cached[0] != placement.members or len(cached[1]) > 2 * len(ids) + 1024:
            cached = (placement.members, {}, np.empty((0, min(PREFIX, len(placement))), dtype=np.int16))
        members, row_of, rows = cached
        missing = [t for t in ids if t not in row_of]
        if missing:
            for t in missing:
                row_of[t] = len(row_of)
            rows = np.concatenate([rows, ranking_heads(placement, missing)])
        self._sites[site] = (members, row_of, rows)
        heads: list[list[int]] = rows[[row_of[t] for t in ids]].tolist()
        return heads

    def retain(self, sites: set[str]) -> None:
        """Forget sites that are gone."""
        for site in set(self._sites) - sites:
            del self._sites[site]

"""Placement: weighted rendezvous (highest random weight) hashing over mmh3.

The one function that decides which appliances of a site hold a title. Fill planning and
steering both call :meth:`Placement.rank`, so a viewer is sent where the title was filled.
Removing an appliance moves only the titles it ranked first; no title moves between two
appliances that both remain, and the order appliances were added in never matters.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import mmh3

# hash(title, seed) -> unsigned 32-bit integer; injectable so tests can use a known hash.
HashFn = Callable[[str, int], int]

_SCALE = 1.0 / 4294967296.0


def mmh3_hash(key: str, seed: int) -> int:
    return int(mmh3.hash(key, seed, signed=False))


@dataclass(frozen=True, slots=True)
class Member:
    """An appliance taking part in placement; ``weight`` is relative (e.g. capacity in TB)."""

    id: str
    weight: float = 1.0


class Placement:
    """Ranks a fixed set of members for any title. Immutable, so safe across tasks and threads."""

    def __init__(self, members: Iterable[Member], hash_fn: HashFn = mmh3_hash) -> None:
        unique = {m.id: m for m in members}
        for m in unique.values():
            if not m.weight > 0 or math.isinf(m.weight):
                raise ValueError(f"member {m.id!r} needs a positive, finite weight")
        # Sorted ids make the result independent of insertion order even on exact score ties.
        self._members = tuple(sorted(unique.values(), key=lambda m: m.id))
        self._seeds = tuple(mmh3_hash(m.id, 0) for m in self._members)
        self._weights = tuple(m.weight for m in self._members)
        self._ids = tuple(m.id for m in self._members)
        self._hash = hash_fn

    @property
    def members(self) -> tuple[Member, ...]:
        return self._members

    def __len__(self) -> int:
        return len(self._members)

    def scores(self, title: str) -> list[tuple[float, str]]:
        """(score, member id) for every member; higher score ranks first."""
        h = self._hash
        log = math.log
        out = []
        for seed, weight, ident in zip(self._seeds, self._weights, self._ids, strict=True):
            # u in (0, 1); weight / -ln(u) is the weighted HRW score (exponential race).
            u = (h(title, seed) + 0.5) * _SCALE
            out.append((weight / -log(u), ident))
        return out

    def rank(self, title: str) -> list[str]:
        """Every member id, best first. Empty when there are no members."""
        return [ident for _, ident in sorted(self.scores(title), reverse=True)]

    def top(self, title: str, n: int) -> list[str]:
        """The first ``n`` ids of :meth:`rank` (the title's replica set)."""
        return self.rank(title)[:n]


def rank(title: str, members: Iterable[Member]) -> list[str]:
    """Convenience: rank ``members`` for ``title`` (builds a Placement each call)."""
    return Placement(members).rank(title)

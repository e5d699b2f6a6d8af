"""Placement: weighted rendezvous (highest random weight) hashing over mmh3.

The one function that decides which appliances of a site hold a title. Fill planning and
steering both call :meth:`Placement.rank`, so a viewer is sent where the title was filled.
Removing an appliance moves only the titles it ranked first; no title moves between two
appliances that both remain, and the order appliances were added in never matters.

Each member's score for a title is an exponential race: ``-ln(u) / weight`` where ``u`` is a
uniform draw derived from (title hash, member seed); the smallest wins, so a member wins a
share of titles proportional to its weight. The per-member mixing is vectorised with numpy:
one mmh3 call per title, then a splitmix64 finaliser over all members at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import mmh3
import numpy as np

# title -> unsigned 64-bit hash; injectable so tests can pin exact placements.
TitleHash = Callable[[str], int]

_U64 = np.uint64
_C1, _C2 = _U64(0xBF58476D1CE4E5B9), _U64(0x94D049BB133111EB)
_S11, _S27, _S30, _S31 = _U64(11), _U64(27), _U64(30), _U64(31)
_SCALE = 1.0 / 9007199254740992.0  # 2**-53: 53 random bits -> [0, 1)


def mmh3_title_hash(title: str) -> int:
    return int(mmh3.hash64(title, 0, signed=False)[0])


def member_seed(member_id: str) -> int:
    """A member's fixed 64-bit seed, a function of its id alone."""
    return int(mmh3.hash64(member_id, 0x5F3759DF, signed=False)[0])


def capacity_weight(capacity_bytes: int) -> float:
    """The placement weight of an appliance with this disk capacity (0 or unknown counts as 1).

    Fill planning and steering must weigh appliances identically, or viewers are sent where
    nothing was filled; both call this.
    """
    return float(capacity_bytes) if capacity_bytes > 0 else 1.0


@dataclass(frozen=True, slots=True)
class Member:
    """An appliance taking part in placement; ``weight`` is relative (e.g. capacity in TB)."""

    id: str
    weight: float = 1.0


class Placement:
    """Ranks a fixed set of members for any title. Immutable, so safe across tasks and threads."""

    def __init__(self, members: Iterable[Member], title_hash: TitleHash = mmh3_title_hash) -> None:
        unique = {m.id: m for m in members}
        for m in unique.values():
            if not m.weight > 0 or math.isinf(m.weight):
                raise ValueError(f"member {m.id!r} needs a positive, finite weight")
        # Sorted ids make the result independent of insertion order, even on exact ties.
        self._members = tuple(sorted(unique.values(), key=lambda m: m.id))
        self._ids = np.array([m.id for m in self._members], dtype=object)
        self._seeds = np.array([member_seed(m.id) for m in self._members], dtype=np.uint64)
        self._neg_inv_weights = np.array([-1.0 / m.weight for m in self._members], dtype=np.float64)
        self._title_hash = title_hash

    @property
    def members(self) -> tuple[Member, ...]:
        return self._members

    def __len__(self) -> int:
        return len(self._members)

    def race_times(self, title: str) -> dict[str, float]:
        """Each member's race time for ``title`` (smaller ranks first); for tests and debugging."""
        return dict(zip(self._ids.tolist(), self._keys(title).tolist(), strict=True))

    def _keys(self, title: str) -> np.ndarray:
        return self._race(self._seeds ^ _U64(self._title_hash(title) & 0xFFFFFFFFFFFFFFFF))

    def _race(self, x: np.ndarray) -> np.ndarray:
        """Race times from mixed (title hash ^ seed) values; broadcasts over any leading axes."""
        x ^= x >> _S30
        x *= _C1
        x ^= x >> _S27
        x *= _C2
        x ^= x >> _S31
        u = (x >> _S11) * _SCALE
        u += 0.5 * _SCALE  # keep u in (0, 1) so ln(u) is finite
        keys: np.ndarray = np.log(u)
        keys *= self._neg_inv_weights
        return keys

    def rank(self, title: str) -> list[str]:
        """Every member id, best first. Empty when there are no members."""
        if not self._members:
            return []
        # Members are held in id order, so even an (astronomically rare) exact tie sorts the same
        # way in every process; numpy's default sort is deterministic for a given input.
        return list(self._ids[np.argsort(self._keys(title))].tolist())

    def top(self, title: str, n: int) -> list[str]:
        """The first ``n`` ids of :meth:`rank` (the title's replica set)."""
        return self.rank(title)[:n]

    def top_many(self, titles: Sequence[str], n: int, block: int = 4096) -> list[list[str]]:
        """``top(title, n)`` for many titles at once (same answers, vectorised over titles)."""
        if not self._members or n <= 0:
            return [[] for _ in titles]
        n = min(n, len(self._members))
        out: list[list[str]] = []
        for start in range(0, len(titles), block):
            chunk = titles[start:start + block]
            hashes = np.array([self._title_hash(t) & 0xFFFFFFFFFFFFFFFF for t in chunk], dtype=np.uint64)
            keys = self._race(hashes[:, None] ^ self._seeds[None, :])
            order = np.argsort(keys, axis=1)[:, :n]
            out.extend(self._ids[order].tolist())
        return out


def rank(title: str, members: Iterable[Member]) -> list[str]:
    """Convenience: rank ``members`` for ``title`` (builds a Placement each call)."""
    return Placement(members).rank(title)

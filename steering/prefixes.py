"""Longest-prefix match from client addresses (IPv4 and IPv6) to sites or coverage zones."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from streamfleet.clientip import IPAddress, IPNetwork, normalize

V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Route:
    """One advertised prefix and the site it leads to."""

    network: IPNetwork
    site: str


class LpmTable(Generic[V]):
    """Immutable longest-prefix-match table from networks to values; safe to share across tasks.

    Lookups probe one dict per distinct prefix length, longest first, so the cost grows with the
    number of lengths in use (a few), not with the number of prefixes. For an identical network
    the first entry given wins: callers order entries by preference.
    """

    def __init__(self, entries: Iterable[tuple[IPNetwork, V]]) -> None:
        # version -> {prefix length: {network address as int: value}}
        by_len: dict[int, dict[int, dict[int, V]]] = {4: {}, 6: {}}
        for network, value in entries:
            table = by_len[network.version].setdefault(network.prefixlen, {})
            table.setdefault(int(network.network_address), value)
        # version -> [(mask, {network address: value})], longest prefix first
        self._tables: dict[int, list[tuple[int, dict[int, V]]]] = {}
        for version, tables in by_len.items():
            bits = 32 if version == 4 else 128
            full = (1 << bits) - 1
            self._tables[version] = [
                (full ^ ((1 << (bits - length)) - 1), table)
                for length, table in sorted(tables.items(), key=lambda item: item[0], reverse=True)
            ]
        self._size = sum(len(t) for tables in by_len.values() for t in tables.values())

    def __len__(self) -> int:
        return self._size

    def lookup(self, address: IPAddress) -> V | None:
        """The value of the longest prefix containing ``address``, or None when none does."""
        address = normalize(address)
        value = int(address)
        for mask, table in self._tables[address.version]:
            found = table.get(value & mask)
            if found is not None:
                return found
        return None


class PrefixTable(LpmTable[str]):
    """Longest-prefix match from advertised client prefixes to sites."""

    def __init__(self, routes: Iterable[Route]) -> None:
        super().__init__((route.network, route.site) for route in routes)

"""Longest-prefix match from client addresses (IPv4 and IPv6) to sites."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Route:
    """One advertised prefix and the site it leads to."""

    network: IPNetwork
    site: str


def normalize(address: IPAddress) -> IPAddress:
    """Map IPv4-mapped IPv6 addresses (::ffff:a.b.c.d, as dual-stack sockets report them) to IPv4."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class PrefixTable:
    """Immutable longest-prefix-match table; safe to share across tasks.

    Lookups probe one dict per distinct prefix length, longest first, so the cost grows with the
    number of lengths in use (a few), not with the number of prefixes.
    """

    def __init__(self, routes: Iterable[Route]) -> None:
        # version -> [(prefix length, {network address as int: site})], longest first
        by_len: dict[int, dict[int, dict[int, str]]] = {4: {}, 6: {}}
        for route in routes:
            table = by_len[route.network.version].setdefault(route.network.prefixlen, {})
            # The first route wins: callers order routes by preference.
            table.setdefault(int(route.network.network_address), route.site)
        self._tables = {
            version: sorted(tables.items(), key=lambda item: item[0], reverse=True)
            for version, tables in by_len.items()
        }
        self._size = sum(len(t) for tables in by_len.values() for t in tables.values())

    def __len__(self) -> int:
        return self._size

    def lookup(self, address: IPAddress) -> str | None:
        """The site of the longest prefix containing ``address``, or None when none does."""
        address = normalize(address)
        bits = 32 if address.version == 4 else 128
        value = int(address)
        full = (1 << bits) - 1
        for length, table in self._tables[address.version]:
            mask = full ^ ((1 << (bits - length)) - 1)
            site = table.get(value & mask)
            if site is not None:
                return site
        return None

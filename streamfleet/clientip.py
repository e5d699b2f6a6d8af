"""Who is the client: the connection's peer, or X-Forwarded-For when the peer is a trusted proxy."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def normalize(address: IPAddress) -> IPAddress:
    """Map IPv4-mapped IPv6 addresses (::ffff:a.b.c.d, as dual-stack sockets report them) to IPv4."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_address(text: str) -> IPAddress | None:
    """Parse "1.2.3.4", "1.2.3.4:5678", "::1" or "[::1]:5678"; None when it is no address."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        return normalize(ipaddress.ip_address(text))
    except ValueError:
        return None


def check_cidrs(cidrs: Iterable[str], key: str = "trusted_proxies") -> None:
    """For config validation: raises ValueError naming ``key`` and the first entry that is no CIDR."""
    for cidr in cidrs:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise ValueError(f"{key}: {cidr!r} is not a CIDR") from None


class ProxyTrust:
    """Decides the client address of a request. Immutable; safe across tasks.

    X-Forwarded-For is read right to left, because only the entries appended by our own trusted
    proxies can be believed: the first address that is not a trusted proxy is the client. An
    entry that is not an address stops the walk (anything left of it may be forged).
    """

    def __init__(self, cidrs: Iterable[str]) -> None:
        self._networks: tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)

    def trusts(self, address: IPAddress) -> bool:
        return any(address in network for network in self._networks)

    def client_address(self, peer: str | None, forwarded_for: Iterable[str] = ()) -> IPAddress | None:
        """The client's address; None when even the peer's is unknown (unix socket, test client)."""
        client = parse_address(peer) if peer else None
        if client is None or not self._networks or not self.trusts(client):
            return client
        hops = [hop for header in forwarded_for for hop in header.split(",") if hop.strip()]
        for hop in reversed(hops):
            address = parse_address(hop)
            if address is None:
                break
            client = address
            if not self.trusts(address):
                break
        return client

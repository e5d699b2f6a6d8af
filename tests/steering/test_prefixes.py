from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from steering.prefixes import PrefixTable, Route


def table(*pairs: tuple[str, str]) -> PrefixTable:
    return PrefixTable(Route(ipaddress.ip_network(p), site) for p, site in pairs)


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


def test_longest_ipv4_prefix_wins() -> None:
    t = table(("10.0.0.0/8", "a"), ("10.1.0.0/16", "b"), ("10.1.2.0/24", "c"))
    assert t.lookup(ip("10.1.2.3")) == "c"
    assert t.lookup(ip("10.1.3.3")) == "b"
    assert t.lookup(ip("10.200.0.1")) == "a"
    assert t.lookup(ip("11.0.0.1")) is None
    assert len(t) == 3


def test_longest_ipv6_prefix_wins_and_families_do_not_mix() -> None:
    t = table(("2001:db8::/32", "a"), ("2001:db8:1::/48", "b"), ("0.0.0.0/0", "v4-default"))
    assert t.lookup(ip("2001:db8:1::5")) == "b"
    assert t.lookup(ip("2001:db8:2::5")) == "a"
    assert t.lookup(ip("2001:db9::1")) is None
    assert t.lookup(ip("192.0.2.1")) == "v4-default"


def test_ipv4_mapped_ipv6_client_matches_ipv4_prefix() -> None:
    t = table(("192.0.2.0/24", "x"))
    assert t.lookup(ip("::ffff:192.0.2.9")) == "x"


def test_first_route_wins_for_an_identical_prefix() -> None:
    assert table(("10.0.0.0/8", "first"), ("10.0.0.0/8", "second")).lookup(ip("10.9.9.9")) == "first"


def test_host_routes() -> None:
    t = table(("192.0.2.7/32", "host"), ("192.0.2.0/24", "net"), ("::1/128", "lo6"))
    assert t.lookup(ip("192.0.2.7")) == "host"
    assert t.lookup(ip("192.0.2.8")) == "net"
    assert t.lookup(ip("::1")) == "lo6"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 32)), min_size=1, max_size=30),
    st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=20),
)
def test_matches_brute_force(prefixes: list[tuple[int, int]], addresses: list[int]) -> None:
    networks = [ipaddress.IPv4Network((value, length), strict=False) for value, length in prefixes]
    t = PrefixTable(Route(n, str(n)) for n in networks)
    for value in addresses:
        address = ipaddress.IPv4Address(value)
        containing = [n for n in networks if address in n]
        expected = str(max(containing, key=lambda n: n.prefixlen)) if containing else None
        assert t.lookup(address) == expected

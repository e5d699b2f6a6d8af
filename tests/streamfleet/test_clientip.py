from __future__ import annotations

import ipaddress

import pytest

from streamfleet.clientip import ProxyTrust, parse_address


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("192.0.2.1", "192.0.2.1"),
        (" 192.0.2.1:4443 ", "192.0.2.1"),
        ("2001:db8::1", "2001:db8::1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("unknown", None),
        ("", None),
        ("testclient", None),
    ],
)
def test_parse_address(text: str, expected: str | None) -> None:
    result = parse_address(text)
    assert (str(result) if result else None) == expected


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    trust = ProxyTrust(())
    assert trust.client_address("10.0.0.5", ["192.0.2.1"]) == ipaddress.ip_address("10.0.0.5")


def test_untrusted_peer_cannot_claim_another_address() -> None:
    trust = ProxyTrust(["10.0.0.0/8"])
    assert trust.client_address("198.51.100.7", ["192.0.2.1"]) == ipaddress.ip_address("198.51.100.7")


def test_trusted_peer_forwards_the_rightmost_untrusted_address() -> None:
    trust = ProxyTrust(["10.0.0.0/8", "fd00::/8"])
    # The client forged the first entry; our proxies appended the last two.
    header = "1.1.1.1, 192.0.2.1, 10.0.0.9"
    assert trust.client_address("10.0.0.5", [header]) == ipaddress.ip_address("192.0.2.1")
    assert trust.client_address("fd00::1", ["2001:db8::7"]) == ipaddress.ip_address("2001:db8::7")
    # Several header lines count as one list.
    assert trust.client_address("10.0.0.5", ["1.1.1.1", "192.0.2.1, 10.0.0.9"]) == ipaddress.ip_address(
        "192.0.2.1"
    )


def test_garbage_in_the_chain_stops_at_the_last_trusted_hop() -> None:
    trust = ProxyTrust(["10.0.0.0/8"])
    assert trust.client_address("10.0.0.5", ["192.0.2.1, garbage, 10.0.0.9"]) == ipaddress.ip_address(
        "10.0.0.9"
    )


def test_all_hops_trusted_gives_the_leftmost() -> None:
    trust = ProxyTrust(["10.0.0.0/8"])
    assert trust.client_address("10.0.0.5", ["10.1.1.1, 10.2.2.2"]) == ipaddress.ip_address("10.1.1.1")


def test_unknown_peer_gives_none() -> None:
    assert ProxyTrust(["10.0.0.0/8"]).client_address(None, ["192.0.2.1"]) is None
    assert ProxyTrust(()).client_address("testclient") is None

"""Property tests of steering's input parsers: request bodies, X-Forwarded-For, coverage files.

Whatever a client or an operator's file contains, each parser returns a value or raises its
one documented error -- never anything else (which would be a 500, or a failed reload).
"""

from __future__ import annotations

import ipaddress
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from steering.app import _parse_title
from steering.coverage import parse_coverage
from steering.errors import CoverageError, InvalidRequest
from streamfleet.clientip import ProxyTrust, parse_address

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
TITLES = st.from_regex(r"[a-z0-9][a-z0-9-]{0,30}", fullmatch=True)


@given(st.binary(max_size=200))
def test_any_body_is_a_title_or_invalid_request(body: bytes) -> None:
    try:
        title = _parse_title(body)
    except InvalidRequest:
        return
    assert isinstance(title, str) and title


@given(JSON)
def test_any_json_is_a_title_or_invalid_request(value: object) -> None:
    try:
        _parse_title(json.dumps(value).encode())
    except InvalidRequest:
        pass


@given(TITLES)
def test_valid_titles_parse(title: str) -> None:
    assert _parse_title(json.dumps({"title": title, "extra": [1, 2]}).encode()) == title


@given(st.text(max_size=60))
def test_parse_address_never_raises(text: str) -> None:
    address = parse_address(text)
    assert address is None or isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address)


ADDRESSES = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)).map(str)
HOPS = st.one_of(ADDRESSES, st.text(max_size=15), ADDRESSES.map(lambda a: f"[{a}]:443"))


@given(st.lists(HOPS, max_size=6), st.lists(st.text(max_size=30), max_size=2))
def test_forwarded_for_never_raises_and_only_trusted_peers_are_looked_through(
    hops: list[str], junk: list[str]
) -> None:
    trust = ProxyTrust(["10.0.0.0/8"])
    headers = [", ".join(hops), *junk]
    untrusted = trust.client_address("192.0.2.7", headers)
    assert untrusted == ipaddress.ip_address("192.0.2.7")  # its X-Forwarded-For is ignored
    client = trust.client_address("10.1.1.1", headers)
    assert client is not None


@settings(max_examples=200)
@given(st.one_of(st.text(max_size=200), JSON.map(json.dumps)), st.sampled_from(["", "json", "csv"]))
def test_coverage_files_parse_or_raise_coverage_error(text: str, fmt: str) -> None:
    try:
        parse_coverage(text, fmt)
    except CoverageError:
        pass


@pytest.mark.parametrize("line", ["10.0.0.0/8,east,91,0", "10.0.0.0/8,east,nan,1", "::/0,west,1e999,1"])
def test_coverage_rejects_impossible_coordinates(line: str) -> None:
    with pytest.raises(CoverageError):
        parse_coverage(line, "csv")

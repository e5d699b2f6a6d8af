"""Wire parsing of the fast path: property tests for Range, request heads and token/path parsing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.responses import FileResponse, MalformedRangeHeader, RangeNotSatisfiable

from appliance.errors import BadRequest, RangeError
from appliance.httpwire import etag_matches, parse_head, parse_range, response_head
from streamfleet import tokens
from streamfleet.addressing import AddressError, parse_signed_path

KEYRING = tokens.TokenSettings().keyring()
digits = st.integers(min_value=0, max_value=10**12).map(str)
sizes = st.integers(min_value=0, max_value=10**7)


def starlette_range(header: str, size: int) -> tuple[int, int] | str:
    """Starlette's FileResponse parser as the oracle ("400"/"416" for its errors)."""
    try:
        ranges = FileResponse._parse_range_header(header, size)
    except MalformedRangeHeader:
        return "400"
    except RangeNotSatisfiable:
        return "416"
    assert len(ranges) == 1
    return ranges[0]


def ours(header: str, size: int) -> tuple[int, int] | str | None:
    try:
        return parse_range(header, size)
    except RangeError as exc:
        assert exc.status in (400, 416) and exc.size == size
        return str(exc.status)


@given(first=st.one_of(st.just(""), digits), last=st.one_of(st.just(""), digits), size=sizes)
def test_single_ranges_agree_with_starlette(first: str, last: str, size: int) -> None:
    header = f"bytes={first}-{last}"
    if not first and not last:
        assert ours(header, size) == "400"
        return
    expected = starlette_range(header, size)
    got = ours(header, size)
    assert got == expected, (header, size)
    if isinstance(got, tuple):
        start, end = got
        assert 0 <= start < end <= size


@given(header=st.text(max_size=60), size=sizes)
def test_any_range_text_is_a_range_none_or_a_range_error(header: str, size: int) -> None:
    got = ours(header, size)
    if isinstance(got, tuple):
        assert 0 <= got[0] < got[1] <= size
    else:
        assert got in (None, "400", "416")


def test_range_examples() -> None:
    assert parse_range("bytes=100-199", 1000) == (100, 200)
    assert parse_range("bytes=-10", 1000) == (990, 1000)
    assert parse_range("BYTES = 5 -", 10) == (5, 10)
    assert parse_range("bytes=0-0,5-6", 10) is None
    for header, status in [("pages=1-2", 400), ("bytes=10-", 416), ("bytes=-0", 416), ("bytes=5-1", 400)]:
        with pytest.raises(RangeError) as err:
            parse_range(header, 10)
        assert err.value.status == status, header


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_any_head_bytes_parse_or_raise_bad_request(raw: bytes) -> None:
    try:
        head = parse_head(raw)
    except BadRequest as exc:
        assert exc.status in (400, 431, 505)
        return
    assert head.method and head.path.startswith("/")
    assert head.content_length >= 0


def test_head_parsing_and_smuggling_guards() -> None:
    head = parse_head(b"GET /s/t/clip/master.m3u8?x=1 HTTP/1.1\r\nHost: a\r\nRange: bytes=0-1")
    assert (head.method, head.path, head.query) == ("GET", "/s/t/clip/master.m3u8", b"x=1")
    assert head.keep_alive
    assert head.get(b"range") == "bytes=0-1" and head.get(b"host") == "a"
    assert not parse_head(b"GET / HTTP/1.0").keep_alive
    assert not parse_head(b"GET / HTTP/1.1\r\nConnection: close").keep_alive
    bad = [
        (b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2", 400),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 2", 400),
        (b"GET / HTTP/1.1\r\n folded: header", 400),
        (b"GET / HTTP/2.0", 505),
        (b"GET http://x/ HTTP/1.1", 400),
        (b"GET / HTTP/1.1\r\nX: a\x00b", 400),
        (b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 200 + b"Z: z", 431),
        (b"GET / HTTP/1.1\r\nX: " + b"a" * 20000, 431),
    ]
    for raw, status in bad:
        with pytest.raises(BadRequest) as err:
            parse_head(raw)
        assert err.value.status == status, raw[:40]


@given(st.text(max_size=120), st.text(max_size=30))
def test_any_token_text_is_rejected_with_token_error_only(token: str, title: str) -> None:
    with pytest.raises(tokens.TokenError):
        tokens.verify(KEYRING, token, title, 0.0)


@given(st.text(max_size=200))
def test_any_signed_path_parses_or_raises_address_error(path: str) -> None:
    try:
        token, key = parse_signed_path(path)
    except AddressError:
        return
    assert path == key.signed_path(token)


def test_validators_and_heads() -> None:
    assert etag_matches('W/"a", "b"', '"a"') and etag_matches("*", '"x"') and not etag_matches('"b"', '"a"')
    assert response_head(206, [("a", "b")]) == b"HTTP/1.1 206 Partial Content\r\na: b\r\n\r\n"

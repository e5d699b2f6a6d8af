"""Property tests for the tus header parsers: any header text gets a 400-class UploadError, never a crash."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request

from origin.app_uploads import UploadRoutes, _int_header
from origin.errors import UploadError
from origin.uploads import encode_metadata, parse_metadata

# Header values reach the app latin-1 decoded: every code point below 256 is possible.
header_text = st.text(alphabet=st.characters(max_codepoint=255), max_size=200)
keys = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_-0123456789", min_size=1, max_size=20)


def _request(name: str, value: str) -> Request:
    return Request({"type": "http", "headers": [(name.encode(), value.encode("latin-1"))]})


@given(st.dictionaries(keys, st.text(max_size=100), max_size=8))
def test_metadata_round_trips(metadata: dict[str, str]) -> None:
    assert parse_metadata(encode_metadata(metadata)) == metadata


@given(header_text)
def test_any_metadata_header_parses_or_is_a_400(header: str) -> None:
    try:
        parsed = parse_metadata(header)
    except UploadError as exc:
        assert exc.status == 400
    else:
        assert all(k and " " not in k for k in parsed)


@given(st.one_of(header_text, st.integers(min_value=0, max_value=10**18).map(str)))
def test_counts_are_plain_ascii_integers(value: str) -> None:
    try:
        parsed = _int_header(_request("upload-offset", value), "upload-offset")
    except UploadError as exc:
        assert exc.status == 400
    else:
        assert str(parsed) == value.lstrip("0") or (parsed == 0 and set(value) == {"0"})


@pytest.mark.parametrize("value", ["²", "¹³", "+5", "-1", " 5", "5 ", "", "1" * 19])
def test_non_ascii_and_signed_counts_are_refused(value: str) -> None:
    with pytest.raises(UploadError) as err:
        _int_header(_request("upload-length", value), "upload-length")
    assert err.value.status == 400


@given(header_text)
def test_any_checksum_header_is_accepted_or_a_400(header: str) -> None:
    try:
        parsed = UploadRoutes._checksum(_request("upload-checksum", header))
    except UploadError as exc:
        assert exc.status == 400
    else:
        assert parsed is not None and parsed[0] in {"sha1", "md5", "sha256"}

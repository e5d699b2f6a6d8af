from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamfleet import addressing
from streamfleet.addressing import AddressError, make_key, master_key, parse_key, parse_signed_path


def test_segment_key_maps_to_path_and_cache_key() -> None:
    key = make_key("big-buck", "720p", addressing.segment_name(7))
    assert key.cache_key == "big-buck/720p/seg_00007.m4s"
    assert key.signed_path("k.1.sig") == "/s/k.1.sig/big-buck/720p/seg_00007.m4s"
    assert key.segment_number == 7
    assert key.content_type == "video/iso.segment"


def test_master_playlist_lives_at_title_level() -> None:
    key = master_key("film")
    assert key.cache_key == "film/master.m3u8"
    assert key.is_playlist
    with pytest.raises(AddressError):
        make_key("film", "", "init.mp4")


def test_parse_signed_path_round_trips() -> None:
    key = make_key("film", "240p", "init.mp4")
    token, parsed = parse_signed_path(key.signed_path("dev.123.abc"))
    assert token == "dev.123.abc"
    assert parsed == key


@pytest.mark.parametrize(
    "path",
    [
        "/s/tok/../../etc/passwd",
        "/s/tok/film/720p/../../../etc/passwd",
        "/s/tok/film/720p/%2e%2e/seg_00001.m4s",
        "/s/tok/film/720p/seg_1.m4s",
        "/s/tok/film/720p/sub/seg_00001.m4s",
        "/s/tok/Film/720p/init.mp4",
        "/s/tok/film/720x/init.mp4",
        "/s//film/720p/init.mp4",
        "/s/to k/film/master.m3u8",
        "/x/tok/film/master.m3u8",
        "/s/tok",
    ],
)
def test_hostile_paths_are_refused(path: str) -> None:
    with pytest.raises(AddressError):
        parse_signed_path(path)


@given(st.text(max_size=80))
def test_parse_key_never_yields_an_escaping_path(text: str) -> None:
    try:
        key = parse_key(text)
    except AddressError:
        return
    parts = key.relative_path.split("/")
    assert ".." not in parts and "" not in parts and not key.relative_path.startswith("/")


def test_slugify() -> None:
    assert addressing.slugify("My Film: Part 2!") == "my-film-part-2"
    with pytest.raises(AddressError):
        addressing.slugify("!!!")

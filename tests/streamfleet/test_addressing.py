from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamfleet import addressing
from streamfleet.addressing import AddressError, dash_key, make_key, master_key, parse_key, parse_signed_path


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


def test_dash_manifest_lives_at_title_level() -> None:
    key = dash_key("film")
    assert key == parse_key("film/manifest.mpd") == make_key("film", "", addressing.DASH_MANIFEST)
    assert key.cache_key == "film/manifest.mpd"
    assert key.content_type == "application/dash+xml"
    assert key.is_manifest and not key.is_playlist
    assert key.segment_number is None
    _, parsed = parse_signed_path(key.signed_path("dev.1.sig"))
    assert parsed == key
    # Only at title level, and only under its one name.
    for text in ("film/720p/manifest.mpd", "film/index.mpd", "film/manifest.MPD", "film/manifest.mpd/x"):
        with pytest.raises(AddressError):
            parse_key(text)


def test_manifests_are_the_files_that_describe_media() -> None:
    assert master_key("film").is_manifest
    assert make_key("film", "720p", "index.m3u8").is_manifest
    assert not make_key("film", "720p", "init.mp4").is_manifest
    assert not make_key("film", "720p", addressing.segment_name(0)).is_manifest


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
        "/s/tok/film/../manifest.mpd",
        "/s/tok/film/720p/manifest.mpd",
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


_NAMES = st.sampled_from(["master.m3u8", "manifest.mpd", "index.m3u8", "init.mp4", "seg_00003.m4s",
                          "manifest.m3u8", "master.mpd", ""])


@given(st.from_regex(addressing.TITLE_RE, fullmatch=True),
       st.sampled_from(["", "720p", "audio", "720x", ".."]), _NAMES)
def test_keys_round_trip_through_their_cache_key(title: str, rendition: str, name: str) -> None:
    try:
        key = make_key(title, rendition, name)
    except AddressError:
        # Title-level names never live in a rendition, rendition names never at title level.
        assert rendition not in ("", "720p", "audio") or name not in (
            addressing.TITLE_FILES if rendition == "" else ("index.m3u8", "init.mp4", "seg_00003.m4s"))
        return
    assert parse_key(key.cache_key) == key
    assert (rendition == "") == (name in addressing.TITLE_FILES)
    assert key.is_manifest == name.endswith((".m3u8", ".mpd"))
    assert key.content_type in ("application/vnd.apple.mpegurl", "application/dash+xml", "video/mp4",
                                "video/iso.segment")


def test_slugify() -> None:
    assert addressing.slugify("My Film: Part 2!") == "my-film-part-2"
    with pytest.raises(AddressError):
        addressing.slugify("!!!")

"""Property tests of the playlist parsers: round trips, and nothing but PlaylistError on bad input."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from player.errors import PlaylistError
from player.hls import Segment, Variant, parse_attributes, parse_master, parse_media

NAMES = st.from_regex(r"[A-Z][A-Z0-9-]{0,11}", fullmatch=True)
BARE = st.from_regex(r"[A-Za-z0-9._:/x-]{1,16}", fullmatch=True)
QUOTED = st.text(st.characters(blacklist_characters='"\r\n', blacklist_categories=["Cs"]), max_size=20)
URIS = st.from_regex(r"[a-z0-9_]{1,8}(/[a-z0-9_.]{1,12}){0,2}", fullmatch=True)
DURATIONS = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)


@given(st.dictionaries(NAMES, st.one_of(BARE.map(lambda v: (v, False)), QUOTED.map(lambda v: (v, True))),
                       max_size=8))
def test_attribute_lists_round_trip(attrs: dict[str, tuple[str, bool]]) -> None:
    text = ",".join(f'{k}="{v}"' if quoted else f"{k}={v}" for k, (v, quoted) in attrs.items())
    assert parse_attributes(text) == {k: v for k, (v, _) in attrs.items()}


VARIANTS = st.builds(
    Variant,
    uri=URIS,
    bandwidth=st.integers(1, 10**10),
    average_bandwidth=st.one_of(st.none(), st.integers(1, 10**10)),
    resolution=st.one_of(st.none(), st.tuples(st.integers(0, 99999), st.integers(0, 99999))),
    codecs=st.one_of(st.none(), st.from_regex(r"[a-z0-9.]{1,10}(,[a-z0-9.]{1,10}){0,2}", fullmatch=True)),
)


def render_variant(v: Variant) -> str:
    attrs = [f"BANDWIDTH={v.bandwidth}"]
    if v.average_bandwidth is not None:
        attrs.append(f"AVERAGE-BANDWIDTH={v.average_bandwidth}")
    if v.resolution is not None:
        attrs.append(f"RESOLUTION={v.resolution[0]}x{v.resolution[1]}")
    if v.codecs is not None:
        attrs.append(f'CODECS="{v.codecs}"')
    return f"#EXT-X-STREAM-INF:{','.join(attrs)}\n{v.uri}"


@given(st.lists(VARIANTS, min_size=1, max_size=6), st.booleans())
def test_master_round_trip(variants: list[Variant], crlf: bool) -> None:
    text = "#EXTM3U\n#EXT-X-VERSION:7\n" + "\n".join(render_variant(v) for v in variants) + "\n"
    if crlf:
        text = text.replace("\n", "\r\n")
    assert parse_master(text).variants == tuple(variants)


@given(st.lists(st.tuples(URIS, DURATIONS), min_size=1, max_size=20), st.one_of(st.none(), URIS))
def test_media_round_trip(segments: list[tuple[str, float]], init: str | None) -> None:
    lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:4"]
    if init is not None:
        lines.append(f'#EXT-X-MAP:URI="{init}"')
    for uri, duration in segments:
        lines += [f"#EXTINF:{duration!r},", uri]
    lines.append("#EXT-X-ENDLIST")
    playlist = parse_media("\n".join(lines))
    assert playlist.segments == tuple(Segment(u, d) for u, d in segments)
    assert playlist.init_uri == init and playlist.ended
    assert math.isclose(playlist.duration, math.fsum(d for _, d in segments), rel_tol=1e-9, abs_tol=1e-6)


LINES = st.one_of(
    st.sampled_from([
        "#EXTM3U", "#EXT-X-ENDLIST", "#EXTINF:", "#EXTINF:4,", "#EXTINF:nan,", "#EXTINF:-1,", "#EXTINF:inf,",
        "#EXT-X-MAP:", '#EXT-X-MAP:URI=""', '#EXT-X-MAP:URI="a"', "#EXT-X-MAP:URI=a,", "#EXT-X-STREAM-INF:",
        "#EXT-X-STREAM-INF:BANDWIDTH=0", "#EXT-X-STREAM-INF:BANDWIDTH=1,RESOLUTION=1x",
        "#EXT-X-TARGETDURATION:x",
        '#EXT-X-STREAM-INF:CODECS="a,b', "seg.m4s", "", "\ufeff", "#", "=", ",",
    ]),  # fmt: skip
    st.text(max_size=40),
)


@settings(max_examples=300)
@given(st.lists(LINES, max_size=12), st.sampled_from(["\n", "\r\n", "\r"]))
def test_anything_parses_or_raises_playlist_error(lines: list[str], newline: str) -> None:
    text = newline.join(lines)
    for parse in (parse_master, parse_media):
        try:
            parse(text)
        except PlaylistError:
            pass


@given(st.text(max_size=60))
def test_attribute_parser_raises_only_playlist_error(text: str) -> None:
    try:
        parse_attributes(text)
    except PlaylistError:
        pass

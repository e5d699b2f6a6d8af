from __future__ import annotations

from fractions import Fraction

import pytest

from origin.hls import (
    AudioRendition,
    Variant,
    avc1_codec,
    parse_master,
    parse_media_playlist,
    replace_init_uri,
    truncate_media_playlist,
    write_master,
)

MEDIA = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:4
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-MAP:URI="init_1.mp4"
#EXTINF:4.000000,
seg_00000.m4s
#EXTINF:1.500000,
seg_00001.m4s
#EXT-X-ENDLIST
"""


def test_media_playlist() -> None:
    pl = parse_media_playlist(MEDIA)
    assert pl.init_uri == "init_1.mp4"
    assert pl.segments == (("seg_00000.m4s", 4.0), ("seg_00001.m4s", 1.5))
    assert pl.ended and pl.duration_s == 5.5
    renamed = replace_init_uri(MEDIA, "init.mp4")
    assert parse_media_playlist(renamed).init_uri == "init.mp4"
    assert renamed.replace('"init.mp4"', '"init_1.mp4"') == MEDIA


def test_truncate_keeps_the_first_segments_and_the_end() -> None:
    cut = truncate_media_playlist(MEDIA, 1)
    pl = parse_media_playlist(cut)
    assert pl.segments == (("seg_00000.m4s", 4.0),) and pl.ended and pl.init_uri == "init_1.mp4"
    assert "seg_00001" not in cut and "1.500000" not in cut
    assert truncate_media_playlist(MEDIA, 2) == MEDIA == truncate_media_playlist(MEDIA, 5)
    with pytest.raises(ValueError):
        truncate_media_playlist(MEDIA, 0)


@pytest.mark.parametrize("text", ["", "hello", "#EXTM3U\nseg.m4s\n", "#EXTM3U\n#EXTINF:4,\nseg.m4s\n"])
def test_media_playlist_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_media_playlist(text)


def test_master_round_trip() -> None:
    text = write_master([
        Variant("720p/index.m3u8", 3_100_000, 2_900_000, 1280, 720, "avc1.64001f,mp4a.40.2", Fraction(24)),
        Variant("240p/index.m3u8", 450_000, 400_000, 426, 240, "avc1.640015"),
    ])
    entries = parse_master(text)
    assert [uri for _, uri in entries] == ["720p/index.m3u8", "240p/index.m3u8"]
    first = entries[0][0]
    assert first["BANDWIDTH"] == "3100000" and first["RESOLUTION"] == "1280x720"
    assert first["CODECS"] == "avc1.64001f,mp4a.40.2" and first["FRAME-RATE"] == "24.000"
    assert "#EXT-X-INDEPENDENT-SEGMENTS" in text


def test_master_with_an_audio_group() -> None:
    audio = AudioRendition("audio/index.m3u8", "aud", "Main", 2)
    text = write_master([Variant("720p/index.m3u8", 3_228_000, 3_028_000, 1280, 720, "avc1.64001f,mp4a.40.2"),
                         Variant("240p/index.m3u8", 578_000, 528_000, 426, 240, "avc1.640015,mp4a.40.2")],
                        audio)
    lines = text.splitlines()
    # The group is declared before the variants that refer to it; no audio-only variant.
    assert lines[3] == ('#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="Main",DEFAULT=YES,AUTOSELECT=YES,'
                        'CHANNELS="2",URI="audio/index.m3u8"')
    entries = parse_master(text)
    assert [uri for _, uri in entries] == ["720p/index.m3u8", "240p/index.m3u8"]
    assert all(attrs["AUDIO"] == "aud" for attrs, _ in entries)
    assert "AUDIO=" not in write_master([Variant("240p/index.m3u8", 1, 1, 426, 240, "avc1.640015")])


def test_avc1_codec() -> None:
    box = b"\x00\x00\x00\x30avcC\x01\x64\x00\x1e\xff"
    assert avc1_codec(b"junk" + box) == "avc1.64001e"
    with pytest.raises(ValueError):
        avc1_codec(b"no such box here")

from __future__ import annotations

import pytest

from player.errors import PlaylistError
from player.hls import AudioRendition, Segment, Variant, parse_attributes, parse_master, parse_media

MASTER = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-STREAM-INF:BANDWIDTH=2800000,AVERAGE-BANDWIDTH=2500000,RESOLUTION=1280x720,FRAME-RATE=25.000,CODECS="avc1.64001f,mp4a.40.2"
720p/index.m3u8

# a comment
#EXT-X-STREAM-INF:BANDWIDTH=400000,RESOLUTION=426x240,CODECS="avc1.640015,mp4a.40.2"
240p/index.m3u8
"""

MEDIA = """\ufeff#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:4
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MAP:URI="init.mp4"
#EXTINF:4.000000,
seg_00000.m4s
#EXTINF:4.000000,first part
seg_00001.m4s
#EXTINF:1.5,
seg_00002.m4s
#EXT-X-ENDLIST
"""


def test_master_variants_in_playlist_order() -> None:
    master = parse_master(MASTER)
    assert master.variants == (
        Variant("720p/index.m3u8", 2_800_000, 2_500_000, (1280, 720), "avc1.64001f,mp4a.40.2"),
        Variant("240p/index.m3u8", 400_000, None, (426, 240), "avc1.640015,mp4a.40.2"),
    )
    assert [v.name for v in master.variants] == ["720p", "240p"]


def test_master_audio_group() -> None:
    grouped = MASTER.replace('CODECS="avc1.64001f,mp4a.40.2"', 'CODECS="avc1.64001f,mp4a.40.2",AUDIO="aud"')
    text = grouped.replace(
        "#EXT-X-INDEPENDENT-SEGMENTS\n",
        '#EXT-X-INDEPENDENT-SEGMENTS\n'
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="Commentary",URI="commentary/index.m3u8"\n'
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="Main",DEFAULT=YES,AUTOSELECT=YES,URI="audio/index.m3u8"\n'
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="muxed",NAME="In the video",DEFAULT=YES\n'
        '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="English",URI="subs/en.m3u8"\n')
    master = parse_master(text)
    assert [(a.group, a.name, a.uri, a.default) for a in master.audio] == [
        ("aud", "Commentary", "commentary/index.m3u8", False), ("aud", "Main", "audio/index.m3u8", True),
        ("muxed", "In the video", None, True)]
    hd, sd = master.variants
    assert (hd.audio_group, sd.audio_group) == ("aud", None)
    # The group's default with a URI; none for a variant without a group or with URI-less entries.
    assert master.audio_for(hd) == AudioRendition("aud", "Main", "audio/index.m3u8", True)
    assert master.audio_for(hd).rendition == "audio"  # type: ignore[union-attr]
    assert master.audio_for(sd) is None
    assert master.audio_for(Variant("x/index.m3u8", 1, audio_group="muxed")) is None
    with pytest.raises(PlaylistError, match="GROUP-ID"):
        parse_master(MASTER + '#EXT-X-MEDIA:TYPE=AUDIO,NAME="x",URI="a.m3u8"\n')


def test_media_playlist() -> None:
    media = parse_media(MEDIA.replace("\n", "\r\n"))
    assert media.init_uri == "init.mp4"
    assert media.target_duration == 4.0
    assert media.ended
    assert media.segments == (
        Segment("seg_00000.m4s", 4.0),
        Segment("seg_00001.m4s", 4.0),
        Segment("seg_00002.m4s", 1.5),
    )
    assert media.duration == 9.5


def test_media_playlist_without_init_or_endlist() -> None:
    media = parse_media("#EXTM3U\n#EXTINF:2,\na.ts\n")
    assert media.init_uri is None and not media.ended and media.target_duration is None


def test_attribute_lists() -> None:
    assert parse_attributes('A=1,B="x,y=z",C=0x1F,D=') == {"A": "1", "B": "x,y=z", "C": "0x1F", "D": ""}
    for bad in ("A=1,,B=2", "a=1", 'A="unterminated', "A=1 B=2"):
        with pytest.raises(PlaylistError):
            parse_attributes(bad, 3)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "#EXTM3U"),
        ("<html>not a playlist</html>", "#EXTM3U"),
        ("#EXTM3U\n", "no variants"),
        ("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n", "without a URI"),
        ("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n#EXT-X-STREAM-INF:BANDWIDTH=2\na.m3u8\n", "line 2"),
        ("#EXTM3U\n720p/index.m3u8\n", "without #EXT-X-STREAM-INF"),
        ("#EXTM3U\n#EXT-X-STREAM-INF:RESOLUTION=1x1\na.m3u8\n", "BANDWIDTH"),
        ("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=-5\na.m3u8\n", "BANDWIDTH"),
        ("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=5,RESOLUTION=big\na.m3u8\n", "RESOLUTION"),
        ("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=5,AVERAGE-BANDWIDTH=x\na.m3u8\n", "AVERAGE-BANDWIDTH"),
        (MEDIA, "media playlist tag"),
    ],
)
def test_malformed_master(text: str, message: str) -> None:
    with pytest.raises(PlaylistError, match=message):
        parse_master(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("seg_00000.m4s\n", "#EXTM3U"),
        ("#EXTM3U\n#EXT-X-ENDLIST\n", "no segments"),
        ("#EXTM3U\n#EXTINF:4,\n", "line 2: #EXTINF without a URI"),
        ("#EXTM3U\n#EXTINF:4,\n#EXTINF:4,\na.m4s\n", "line 2"),
        ("#EXTM3U\na.m4s\n", "without #EXTINF"),
        ("#EXTM3U\n#EXTINF:four,\na.m4s\n", "bad duration"),
        ("#EXTM3U\n#EXTINF:-1,\na.m4s\n", "bad duration"),
        ("#EXTM3U\n#EXTINF:nan,\na.m4s\n", "bad duration"),
        ('#EXTM3U\n#EXT-X-MAP:BYTERANGE="1@0"\n#EXTINF:4,\na.m4s\n', "without URI"),
        ('#EXTM3U\n#EXT-X-MAP:URI="a.mp4"\n#EXT-X-MAP:URI="b.mp4"\n#EXTINF:4,\na.m4s\n', "more than one"),
        ("#EXTM3U\n#EXT-X-TARGETDURATION:x\n#EXTINF:4,\na.m4s\n", "bad duration"),
        (MASTER, "master playlist tag"),
    ],
)
def test_malformed_media(text: str, message: str) -> None:
    with pytest.raises(PlaylistError, match=message):
        parse_media(text)

"""HLS playlists: read what ffmpeg wrote, rename its init segments, write our master playlist."""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

_MAP_RE = re.compile(r'^#EXT-X-MAP:URI="([^"]+)"', re.MULTILINE)


@dataclass(frozen=True)
class MediaPlaylist:
    """The parts of a VOD media playlist we check: init segment and (segment uri, duration)."""

    init_uri: str
    segments: tuple[tuple[str, float], ...]
    ended: bool

    @property
    def duration_s(self) -> float:
        return sum(d for _, d in self.segments)


def parse_media_playlist(text: str) -> MediaPlaylist:
    """Parse a media playlist. Raises ValueError when it is not one we can serve."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != "#EXTM3U":
        raise ValueError("not an M3U8 playlist")
    init = ""
    segments: list[tuple[str, float]] = []
    pending: float | None = None
    for line in lines[1:]:
        if line.startswith("#EXT-X-MAP:"):
            m = _MAP_RE.match(line)
            if not m:
                raise ValueError(f"unreadable {line!r}")
            init = m.group(1)
        elif line.startswith("#EXTINF:"):
            pending = float(line[len("#EXTINF:"):].split(",", 1)[0])
        elif not line.startswith("#"):
            if pending is None:
                raise ValueError(f"segment {line!r} has no #EXTINF")
            segments.append((line, pending))
            pending = None
    if not init:
        raise ValueError("no #EXT-X-MAP init segment (not fMP4)")
    return MediaPlaylist(init, tuple(segments), "#EXT-X-ENDLIST" in lines)


def replace_init_uri(text: str, uri: str) -> str:
    """The playlist with its #EXT-X-MAP pointing at ``uri``."""
    return _MAP_RE.sub(f'#EXT-X-MAP:URI="{uri}"', text)


def truncate_media_playlist(text: str, count: int) -> str:
    """The media playlist with only its first ``count`` segments (tags after them, such as
    #EXT-X-ENDLIST, are kept). Raises ValueError for a count below 1."""
    if count < 1:
        raise ValueError(f"a playlist keeps at least one segment, not {count}")
    out: list[str] = []
    seen = 0
    pending: list[str] = []  # the #EXTINF of a segment not yet known to be kept
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            seen += 1
            if seen <= count:
                out += [*pending, line]
            pending = []
        elif stripped.startswith("#EXTINF:"):
            pending.append(line)
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def avc1_codec(init_segment: bytes) -> str:
    """RFC 6381 codec string ("avc1.64001e") from the avcC box of an fMP4 init segment.

    Raises ValueError when the init segment carries no H.264 configuration.
    """
    at = init_segment.find(b"avcC")
    if at < 0 or len(init_segment) < at + 8:
        raise ValueError("init segment has no avcC box")
    profile, compat, level = init_segment[at + 5], init_segment[at + 6], init_segment[at + 7]
    return f"avc1.{profile:02x}{compat:02x}{level:02x}"


@dataclass(frozen=True)
class Variant:
    """One #EXT-X-STREAM-INF entry of a master playlist."""

    uri: str
    bandwidth: int
    average_bandwidth: int
    width: int
    height: int
    codecs: str
    frame_rate: Fraction | None = None


@dataclass(frozen=True)
class AudioRendition:
    """The #EXT-X-MEDIA entry of an audio rendition every variant plays with (its group)."""

    uri: str
    group: str
    name: str
    channels: int


def write_master(variants: list[Variant], audio: AudioRendition | None = None) -> str:
    """A master playlist listing ``variants`` in the given order, each playing with ``audio``
    when given (their BANDWIDTH and CODECS must then already count the audio, RFC 8216 4.3.4.2)."""
    out = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-INDEPENDENT-SEGMENTS"]
    if audio is not None:
        out.append(f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="{audio.group}",NAME="{audio.name}",DEFAULT=YES,'
                   f'AUTOSELECT=YES,CHANNELS="{audio.channels}",URI="{audio.uri}"')
    for v in variants:
        attrs = [f"BANDWIDTH={v.bandwidth}", f"AVERAGE-BANDWIDTH={v.average_bandwidth}",
                 f"RESOLUTION={v.width}x{v.height}"]
        if v.frame_rate:
            attrs.append(f"FRAME-RATE={float(v.frame_rate):.3f}")
        attrs.append(f'CODECS="{v.codecs}"')
        if audio is not None:
            attrs.append(f'AUDIO="{audio.group}"')
        out += ["#EXT-X-STREAM-INF:" + ",".join(attrs), v.uri]
    return "\n".join(out) + "\n"


_ATTR_RE = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')


def parse_master(text: str) -> list[tuple[dict[str, str], str]]:
    """(attributes, uri) of every #EXT-X-STREAM-INF in a master playlist; quotes are stripped."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    out: list[tuple[dict[str, str], str]] = []
    for i, line in enumerate(lines):
        if line.startswith("#EXT-X-STREAM-INF:") and i + 1 < len(lines):
            attrs = {k: v.strip('"') for k, v in _ATTR_RE.findall(line.split(":", 1)[1])}
            out.append((attrs, lines[i + 1]))
    return out

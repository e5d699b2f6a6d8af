"""HLS playlist parsing: master playlists (variants, audio renditions) and media playlists (init map,
segments)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .errors import PlaylistError

# One attribute: NAME=value where value is a quoted string (commas allowed inside) or a bare token.
_ATTRIBUTE = re.compile(r'([A-Z0-9-]+)=("[^"\r\n]*"|[^",\s]*)')
_RESOLUTION = re.compile(r"^([0-9]{1,5})x([0-9]{1,5})$")


@dataclass(frozen=True, slots=True)
class Variant:
    """One #EXT-X-STREAM-INF entry. ``bandwidth`` is the peak bits per second."""

    uri: str
    bandwidth: int
    average_bandwidth: int | None = None
    resolution: tuple[int, int] | None = None
    codecs: str | None = None
    audio_group: str | None = None  # AUDIO: the GROUP-ID of the audio renditions it plays with

    @property
    def name(self) -> str:
        """The rendition name by the addressing scheme: the first part of "720p/index.m3u8"."""
        return _name(self.uri)


@dataclass(frozen=True, slots=True)
class AudioRendition:
    """One #EXT-X-MEDIA:TYPE=AUDIO entry. ``uri`` None: the audio is inside the variants' segments."""

    group: str
    name: str
    uri: str | None
    default: bool = False

    @property
    def rendition(self) -> str:
        """The rendition name by the addressing scheme: "audio" for "audio/index.m3u8"."""
        return _name(self.uri or "")


@dataclass(frozen=True, slots=True)
class MasterPlaylist:
    variants: tuple[Variant, ...]  # in playlist order
    audio: tuple[AudioRendition, ...] = ()  # in playlist order

    def audio_for(self, variant: Variant) -> AudioRendition | None:
        """The audio rendition to fetch beside ``variant``'s segments: its group's DEFAULT=YES entry
        with a URI, else the group's first with one; None when the variant's segments carry the sound
        (no group, or a group without URIs)."""
        group = [a for a in self.audio if a.group == variant.audio_group and a.uri is not None]
        return next((a for a in group if a.default), group[0] if group else None)


def _name(uri: str) -> str:
    return uri.split("/", 1)[0] if "/" in uri else uri


@dataclass(frozen=True, slots=True)
class Segment:
    uri: str
    duration: float  # seconds


@dataclass(frozen=True, slots=True)
class MediaPlaylist:
    segments: tuple[Segment, ...]
    init_uri: str | None = None  # #EXT-X-MAP; None for playlists without an init segment
    target_duration: float | None = None
    ended: bool = False  # #EXT-X-ENDLIST seen (a complete VOD playlist)

    @property
    def duration(self) -> float:
        return sum(s.duration for s in self.segments)


def parse_attributes(text: str, line_no: int = 0) -> dict[str, str]:
    """Parse an attribute list (``BANDWIDTH=1,CODECS="a,b"``); quotes are removed.

    Raises PlaylistError on anything that is not a comma-separated NAME=value list.
    """
    out: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        m = _ATTRIBUTE.match(text, pos)
        if m is None:
            raise PlaylistError(f"line {line_no}: bad attribute list at {text[pos : pos + 20]!r}")
        value = m.group(2)
        out[m.group(1)] = value[1:-1] if value.startswith('"') else value
        pos = m.end()
        if pos < len(text):
            if text[pos] != ",":
                raise PlaylistError(f"line {line_no}: expected ',' at {text[pos : pos + 20]!r}")
            pos += 1
    return out


def _lines(text: str) -> list[tuple[int, str]]:
    """(line number, stripped line) of non-blank lines; checks the #EXTM3U header."""
    lines = [
        (i + 1, line.strip()) for i, line in enumerate(text.lstrip("\ufeff").splitlines()) if line.strip()
    ]
    if not lines or lines[0][1] != "#EXTM3U":
        raise PlaylistError("not an HLS playlist: first line is not #EXTM3U")
    return lines


def _positive_int(value: str | None, what: str, line_no: int) -> int:
    if value is None or not value.isdigit() or int(value) <= 0:
        raise PlaylistError(f"line {line_no}: {what} must be a positive integer, got {value!r}")
    return int(value)


def parse_master(text: str) -> MasterPlaylist:
    """Parse a master playlist. Raises PlaylistError (also for a media playlist given by mistake)."""
    lines = _lines(text)
    variants: list[Variant] = []
    audio: list[AudioRendition] = []
    pending: tuple[int, dict[str, str]] | None = None
    for line_no, line in lines[1:]:
        if line.startswith("#EXTINF") or line.startswith("#EXT-X-TARGETDURATION"):
            raise PlaylistError(f"line {line_no}: media playlist tag in a master playlist")
        if line.startswith("#EXT-X-MEDIA:"):
            attrs = parse_attributes(line.partition(":")[2], line_no)
            if attrs.get("TYPE") == "AUDIO":
                if not attrs.get("GROUP-ID") or "NAME" not in attrs:
                    raise PlaylistError(f"line {line_no}: #EXT-X-MEDIA without GROUP-ID or NAME")
                audio.append(AudioRendition(attrs["GROUP-ID"], attrs["NAME"], attrs.get("URI") or None,
                                            attrs.get("DEFAULT") == "YES"))
        elif line.startswith("#EXT-X-STREAM-INF:"):
            if pending is not None:
                raise PlaylistError(f"line {pending[0]}: #EXT-X-STREAM-INF without a URI")
            pending = (line_no, parse_attributes(line.partition(":")[2], line_no))
        elif line.startswith("#"):
            continue  # other tags (#EXT-X-VERSION, ...) and comments
        else:
            if pending is None:
                raise PlaylistError(f"line {line_no}: URI {line!r} without #EXT-X-STREAM-INF")
            variants.append(_variant(line, *pending))
            pending = None
    if pending is not None:
        raise PlaylistError(f"line {pending[0]}: #EXT-X-STREAM-INF without a URI")
    if not variants:
        raise PlaylistError("master playlist lists no variants")
    return MasterPlaylist(tuple(variants), tuple(audio))


def _variant(uri: str, line_no: int, attrs: dict[str, str]) -> Variant:
    bandwidth = _positive_int(attrs.get("BANDWIDTH"), "BANDWIDTH", line_no)
    average = attrs.get("AVERAGE-BANDWIDTH")
    resolution = None
    if "RESOLUTION" in attrs:
        m = _RESOLUTION.match(attrs["RESOLUTION"])
        if m is None:
            raise PlaylistError(f"line {line_no}: bad RESOLUTION {attrs['RESOLUTION']!r}")
        resolution = (int(m.group(1)), int(m.group(2)))
    return Variant(
        uri=uri,
        bandwidth=bandwidth,
        average_bandwidth=None if average is None else _positive_int(average, "AVERAGE-BANDWIDTH", line_no),
        resolution=resolution,
        codecs=attrs.get("CODECS"),
        audio_group=attrs.get("AUDIO") or None,
    )


def parse_media(text: str) -> MediaPlaylist:
    """Parse a media playlist. Raises PlaylistError for malformed tags or a playlist without segments."""
    lines = _lines(text)
    segments: list[Segment] = []
    init_uri: str | None = None
    target: float | None = None
    ended = False
    duration: tuple[int, float] | None = None
    for line_no, line in lines[1:]:
        tag, _, value = line.partition(":")
        if tag == "#EXT-X-STREAM-INF":
            raise PlaylistError(f"line {line_no}: master playlist tag in a media playlist")
        if tag == "#EXTINF":
            if duration is not None:
                raise PlaylistError(f"line {duration[0]}: #EXTINF without a URI")
            duration = (line_no, _duration(value.partition(",")[0], line_no))
        elif tag == "#EXT-X-MAP":
            uri = parse_attributes(value, line_no).get("URI")
            if not uri:
                raise PlaylistError(f"line {line_no}: #EXT-X-MAP without URI")
            if init_uri is not None and uri != init_uri:
                raise PlaylistError(f"line {line_no}: more than one init segment is not supported")
            init_uri = uri
        elif tag == "#EXT-X-TARGETDURATION":
            target = _duration(value, line_no)
        elif tag == "#EXT-X-ENDLIST":
            ended = True
        elif line.startswith("#"):
            continue
        else:
            if duration is None:
                raise PlaylistError(f"line {line_no}: segment URI {line!r} without #EXTINF")
            segments.append(Segment(line, duration[1]))
            duration = None
    if duration is not None:
        raise PlaylistError(f"line {duration[0]}: #EXTINF without a URI")
    if not segments:
        raise PlaylistError("media playlist lists no segments")
    return MediaPlaylist(tuple(segments), init_uri, target, ended)


def _duration(text: str, line_no: int) -> float:
    try:
        value = float(text)
    except ValueError:
        raise PlaylistError(f"line {line_no}: bad duration {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise PlaylistError(f"line {line_no}: bad duration {text!r}")
    return value

"""DASH: the static MPD describing a title's CMAF segments, the very files its HLS playlists list.

One Period; one video AdaptationSet with a Representation per rendition and, for a title with
sound, one audio AdaptationSet (audio is a rendition of its own, as CMAF wants). Segments are
addressed by a SegmentTemplate resolving to the addressing contract's names (``{rendition}/init.mp4``,
``{rendition}/seg_00000.m4s``...) relative to ``{title}/manifest.mpd``, so the token in the URL
path covers them as it does the playlists. Durations are an explicit SegmentTimeline in the
media's own timescale.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction

from streamfleet.addressing import INIT_SEGMENT

NAMESPACE = "urn:mpeg:dash:schema:mpd:2011"
PROFILE = "urn:mpeg:dash:profile:isoff-live:2011"
INIT_TEMPLATE = f"$RepresentationID$/{INIT_SEGMENT}"
# $Number%05d$ formats like addressing.segment_name (a test holds them together).
MEDIA_TEMPLATE = "$RepresentationID$/seg_$Number%05d$.m4s"


@dataclass(frozen=True)
class DashRepresentation:
    """One rendition as the MPD lists it. ``width``/``height`` are 0 for audio."""

    id: str  # the rendition name: $RepresentationID$ resolves to its folder
    bandwidth: int  # bits/s; the peak segment bitrate, as the HLS master's BANDWIDTH
    codecs: str  # RFC 6381, as the HLS master's CODECS
    timescale: int  # ticks per second of ``durations`` (the media's own timescale)
    durations: tuple[int, ...]  # media segment durations in ticks, segment 0 first
    width: int = 0
    height: int = 0

    @property
    def duration_s(self) -> Fraction:
        return Fraction(sum(self.durations), self.timescale)


def ticks(durations_s: Sequence[float], timescale: int) -> tuple[int, ...]:
    """Segment durations in seconds (e.g. #EXTINF values, 6 decimals) as whole ticks of ``timescale``.

    Segments end on frame boundaries, which are whole ticks of the media timescale, so rounding
    recovers them exactly. Raises ValueError for a timescale or duration that is not positive.
    """
    if timescale <= 0:
        raise ValueError(f"timescale must be positive, not {timescale}")
    out = tuple(round(d * timescale) for d in durations_s)
    if not out or min(out) <= 0:
        raise ValueError("every segment needs a positive duration")
    return out


def _runs(durations: Sequence[int]) -> Iterator[tuple[int, int]]:
    """(duration, repeats after the first) for each run of equal consecutive durations."""
    at = 0
    while at < len(durations):
        end = at
        while end + 1 < len(durations) and durations[end + 1] == durations[at]:
            end += 1
        yield durations[at], end - at
        at = end + 1


def _segment_template(parent: ET.Element, rep: DashRepresentation) -> None:
    template = ET.SubElement(parent, "SegmentTemplate", {
        "timescale": str(rep.timescale), "initialization": INIT_TEMPLATE, "media": MEDIA_TEMPLATE,
        "startNumber": "0",
    })
    timeline = ET.SubElement(template, "SegmentTimeline")
    for n, (duration, repeat) in enumerate(_runs(rep.durations)):
        attrs = {"t": "0"} if n == 0 else {}
        attrs["d"] = str(duration)
        if repeat:
            attrs["r"] = str(repeat)
        ET.SubElement(timeline, "S", attrs)


def _seconds(value: Fraction) -> str:
    """An xs:duration of ``value`` seconds, to the millisecond (rounded up: nothing is cut off)."""
    return f"PT{math.ceil(value * 1000) / 1000:.3f}S"


def _frame_rate(fps: Fraction) -> str:
    return str(fps.numerator) if fps.denominator == 1 else f"{fps.numerator}/{fps.denominator}"


def _adaptation_set(period: ET.Element, set_id: int, kind: str, reps: Sequence[DashRepresentation],
                    frame_rate: Fraction | None) -> None:
    attrs = {"id": str(set_id), "contentType": kind, "mimeType": f"{kind}/mp4", "segmentAlignment": "true",
             "startWithSAP": "1"}
    if kind == "video":
        attrs["maxWidth"] = str(max(r.width for r in reps))
        attrs["maxHeight"] = str(max(r.height for r in reps))
        if frame_rate:
            attrs["frameRate"] = _frame_rate(frame_rate)
    aset = ET.SubElement(period, "AdaptationSet", attrs)
    # Renditions share one segment grid; say it once unless their timescales differ.
    shared = len({(r.timescale, r.durations) for r in reps}) == 1
    if shared:
        _segment_template(aset, reps[0])
    for rep in reps:
        rattrs = {"id": rep.id, "bandwidth": str(rep.bandwidth), "codecs": rep.codecs}
        if kind == "video":
            rattrs.update({"width": str(rep.width), "height": str(rep.height)})
        element = ET.SubElement(aset, "Representation", rattrs)
        if not shared:
            _segment_template(element, rep)


def write_mpd(video: Sequence[DashRepresentation], audio: Sequence[DashRepresentation] = (), *,
              frame_rate: Fraction | None = None) -> bytes:
    """A static MPD (UTF-8 XML) for a title of ``video`` renditions (best first, as in the HLS
    master) and ``audio`` renditions (none: a silent title). The presentation lasts as long as
    the video; audio segments end on AAC frames, a few ms off the video's.

    Raises ValueError without video renditions or with an empty segment list.
    """
    if not video:
        raise ValueError("a DASH manifest needs at least one video rendition")
    reps = [*video, *audio]
    if any(not r.durations for r in reps):
        raise ValueError("every rendition needs media segments")
    longest = max(Fraction(max(r.durations), r.timescale) for r in reps)
    root = ET.Element("MPD", {
        # The namespace as a plain attribute keeps every element unprefixed, without touching
        # ElementTree's process-wide prefix registry.
        "xmlns": NAMESPACE, "profiles": PROFILE, "type": "static",
        "mediaPresentationDuration": _seconds(max(r.duration_s for r in video)),
        "minBufferTime": _seconds(longest), "maxSegmentDuration": _seconds(longest),
    })
    period = ET.SubElement(root, "Period", {"id": "0", "start": "PT0S"})
    _adaptation_set(period, 0, "video", video, frame_rate)
    if audio:
        _adaptation_set(period, 1, "audio", audio, None)
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document + b"\n"

"""Verification of a packaged title with PyAV, from packet metadata: every segment, every rendition.

Checks that each rendition's video timestamps run on one constant frame step across all segments
(so chunk joins left no gap or overlap), that every segment starts with a keyframe, and that
segment start times are identical across renditions (so players can switch at any boundary).
Only the first frame of each rendition is decoded, to check that it decodes at the rung's size.
"""

from __future__ import annotations

import io
from fractions import Fraction

import av
from av.video.stream import VideoStream

from streamfleet.addressing import INIT_SEGMENT, make_key, segment_name

from .errors import IngestError
from .ladder import Rung
from .packaging import Package

# Timestamps in different timescales may round differently; less than a millisecond is the same time.
TOLERANCE = Fraction(1, 1000)


def _check_first_frame(stream: VideoStream, packet: av.Packet[VideoStream], rung: Rung) -> None:
    """The rendition's first packet decodes on its own, at the rung's size."""
    frames = stream.codec_context.decode(packet)
    if not frames:
        # A decoder may hold the first frame back until it is flushed.
        frames = stream.codec_context.decode(None)
    if not frames:
        raise IngestError(f"rendition {rung.name}: the first video packet does not decode")
    frame = frames[0]
    if (frame.width, frame.height) != (rung.width, rung.height):
        raise IngestError(f"rendition {rung.name}: first frame is {frame.width}x{frame.height}; "
                          f"expected {rung.width}x{rung.height}")


def _segment_starts(init: bytes, segments: list[bytes], rung: Rung) -> tuple[list[Fraction], int]:
    """Start time of each segment and the number of video frames; raises IngestError on a defect."""
    rendition = rung.name
    starts: list[Fraction] = []
    pts_all: list[Fraction] = []
    for n, data in enumerate(segments):
        try:
            with av.open(io.BytesIO(init + data), "r", format="mp4") as container:
                stream = container.streams.video[0]
                base = stream.time_base or Fraction(1)
                packets = [p for p in container.demux(stream) if p.size and p.pts is not None]
                if packets and packets[0].is_keyframe and n == 0:
                    _check_first_frame(stream, packets[0], rung)
        except (av.error.FFmpegError, IndexError) as exc:
            raise IngestError(f"rendition {rendition} segment {n}: does not demux: {exc}") from None
        if not packets:
            raise IngestError(f"rendition {rendition} segment {n}: no video packets")
        if not packets[0].is_keyframe:
            raise IngestError(f"rendition {rendition} segment {n}: does not start with a keyframe")
        pts = sorted(Fraction(p.pts or 0) * base for p in packets)
        starts.append(pts[0])
        pts_all.extend(pts)
    steps = {b - a for a, b in zip(pts_all, pts_all[1:], strict=False)}
    if len(steps) > 1:
        # One tick of rounding either way is fine (e.g. 1001/30000 s in a 1/1000 s timescale).
        tick = min(steps)
        if max(steps) - tick > Fraction(1, 1000) + Fraction(1, 90000) or tick <= 0:
            raise IngestError(f"rendition {rendition}: video timestamps are not continuous "
                              f"(frame steps {sorted(float(s) for s in steps)[:4]} s)")
    return starts, len(pts_all)


def verify_package(pkg: Package) -> None:
    """Raise IngestError unless every rendition of ``pkg`` is continuous, keyframe-aligned per segment,
    on the same segment grid as the others, and its first frame decodes at the rung's size."""
    grids: dict[str, list[Fraction]] = {}
    for r in pkg.renditions:
        name = r.rung.name
        init = pkg.files[make_key(pkg.title, name, INIT_SEGMENT)].read_bytes()
        segments = [pkg.files[make_key(pkg.title, name, segment_name(i))].read_bytes()
                    for i in range(pkg.segments)]
        grids[name], _ = _segment_starts(init, segments, r.rung)
    names = list(grids)
    for other in names[1:]:
        first, theirs = grids[names[0]], grids[other]
        if len(first) != len(theirs) or any(abs(a - b) > TOLERANCE
                                            for a, b in zip(first, theirs, strict=True)):
            raise IngestError(f"renditions {names[0]} and {other} start their segments at different times")

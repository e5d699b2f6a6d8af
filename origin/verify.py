"""Verification of a packaged title with PyAV, from packet metadata: every segment, every rendition.

Checks that each rendition's video timestamps run on one constant frame step across all segments
(so chunk joins left no gap or overlap), that every segment starts with a keyframe, and that
segment start times are identical across renditions (so players can switch at any boundary).
Only the first frame of each rendition is decoded, to check that it decodes at the rung's size.
Video segments must carry no audio; the audio rendition's frames must follow each other without a
gap, its playlist must state each segment's real duration, and each of its segments must start
within one AAC frame of the video segment of the same number.
"""

from __future__ import annotations

import io
from fractions import Fraction

import av
from av.video.stream import VideoStream

from streamfleet.addressing import INIT_SEGMENT, make_key, segment_name

from .errors import IngestError
from .ladder import AUDIO, Rung
from .packaging import Package, PackagedAudio

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
                if container.streams.audio:
                    raise IngestError(f"rendition {rendition} segment {n}: carries audio (video only)")
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


def _audio_starts(init: bytes, segments: list[bytes],
                  audio: PackagedAudio) -> tuple[list[Fraction], Fraction]:
    """Start time of each audio segment and the longest frame; raises IngestError on a defect."""
    starts: list[Fraction] = []
    longest = Fraction(0)
    end: Fraction | None = None  # where the previous frame ended
    for n, (data, (_, stated)) in enumerate(zip(segments, audio.playlist.segments, strict=True)):
        try:
            with av.open(io.BytesIO(init + data), "r", format="mp4") as container:
                if container.streams.video:
                    raise IngestError(f"rendition {AUDIO} segment {n}: carries video")
                stream = container.streams.audio[0]
                base = stream.time_base or Fraction(1)
                packets = [(Fraction(p.pts) * base, Fraction(p.duration or 0) * base)
                           for p in container.demux(stream) if p.size and p.pts is not None]
        except (av.error.FFmpegError, IndexError) as exc:
            raise IngestError(f"rendition {AUDIO} segment {n}: does not demux: {exc}") from None
        if not packets:
            raise IngestError(f"rendition {AUDIO} segment {n}: no audio frames")
        for at, duration in packets:
            if duration <= 0 or (end is not None and abs(at - end) > TOLERANCE):
                raise IngestError(f"rendition {AUDIO} segment {n}: audio frames are not continuous "
                                  f"(a frame at {float(at):.4f} s, the previous one ended at "
                                  f"{float(end or 0):.4f} s)")
            end = at + duration
            longest = max(longest, duration)
        real = sum(d for _, d in packets)
        if abs(real - Fraction(stated)) > TOLERANCE:
            raise IngestError(f"rendition {AUDIO} segment {n}: the playlist says {stated} s, "
                              f"its frames last {float(real):.6f} s")
        starts.append(packets[0][0])
    return starts, longest


def verify_package(pkg: Package) -> None:
    """Raise IngestError unless every rendition of ``pkg`` is continuous, keyframe-aligned per segment,
    on the same segment grid as the others, and its first frame decodes at the rung's size; and,
    with audio, unless the audio is continuous, truly described and on the video's grid."""
    grids: dict[str, list[Fraction]] = {}
    for r in pkg.renditions:
        name = r.rung.name
        init = pkg.files[make_key(pkg.title, name, INIT_SEGMENT)].read_bytes()
        segments = [pkg.files[make_key(pkg.title, name, segment_name(i))].read_bytes()
                    for i in range(pkg.segments)]
        grids[name], _ = _segment_starts(init, segments, r.rung)
    if pkg.audio is not None:
        init = pkg.files[make_key(pkg.title, AUDIO, INIT_SEGMENT)].read_bytes()
        segments = [pkg.files[make_key(pkg.title, AUDIO, segment_name(i))].read_bytes()
                    for i in range(pkg.segments)]
        starts, frame = _audio_starts(init, segments, pkg.audio)
        video = next(iter(grids.values()))
        # AAC frames (1024 samples) rarely end on a video boundary: the audio is cut at the
        # frame nearest before it, so no audio segment may start further than one frame off.
        off = [n for n, (a, v) in enumerate(zip(starts, video, strict=True))
               if abs(a - v) > frame + TOLERANCE]
        if off:
            n = off[0]
            raise IngestError(f"rendition {AUDIO} segment {n} starts at {float(starts[n]):.4f} s, "
                              f"the video's at {float(video[n]):.4f} s: more than one AAC frame apart")
    names = list(grids)
    for other in names[1:]:
        first, theirs = grids[names[0]], grids[other]
        if len(first) != len(theirs) or any(abs(a - b) > TOLERANCE
                                            for a, b in zip(first, theirs, strict=True)):
            raise IngestError(f"renditions {names[0]} and {other} start their segments at different times")

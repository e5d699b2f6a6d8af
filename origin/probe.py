"""Probing with PyAV: is a file a usable video source, and what are its size, rate and duration."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from .errors import IngestError

# Smallest frame we accept; below this x264 and players misbehave and nobody wants it anyway.
MIN_SIDE = 16
DEFAULT_FPS = Fraction(25)


@dataclass(frozen=True)
class SourceInfo:
    path: Path
    width: int
    height: int
    # Display aspect ratio (width / height after the sample aspect ratio is applied).
    aspect: float
    duration_s: float
    fps: Fraction
    has_audio: bool
    video_codec: str


def _fail_read(path: Path, exc: Exception) -> IngestError:
    reason = getattr(exc, "strerror", None) or str(exc)
    if isinstance(exc, av.error.InvalidDataError):
        reason = "invalid data"
    return IngestError(f"cannot read {path}: {reason}")


def probe_source(path: Path) -> SourceInfo:
    """Describe a source video, decoding its first frame. Stores nothing.

    Raises IngestError naming the problem: missing file, unreadable data, no video stream,
    no decodable frame, no duration, too small.
    """
    if not path.exists():
        raise IngestError(f"cannot read {path}: no such file")
    if not path.is_file():
        raise IngestError(f"cannot read {path}: not a regular file")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise _fail_read(path, exc) from None
    with container:
        videos = [s for s in container.streams.video
                  if not s.disposition & av.stream.Disposition.attached_pic]
        if not videos:
            raise IngestError(f"not a video: no video stream found in {path}")
        stream = videos[0]
        try:
            frame = next(iter(container.decode(stream)), None)
        except (av.error.FFmpegError, OSError) as exc:
            raise _fail_read(path, exc) from None
        if frame is None:
            raise IngestError(f"cannot read {path}: no decodable video frames (truncated or damaged?)")
        duration = 0.0
        if container.duration:
            duration = container.duration / 1_000_000
        elif stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        if duration <= 0:
            raise IngestError(f"not a video: {path} has no duration (a still image?)")
        if frame.width < MIN_SIDE or frame.height < MIN_SIDE:
            raise IngestError(f"video in {path} is too small ({frame.width}x{frame.height})")
        sar = stream.codec_context.sample_aspect_ratio or stream.sample_aspect_ratio
        aspect = frame.width * float(sar or 1) / frame.height
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = Fraction(rate) if rate and 1 <= rate <= 240 else DEFAULT_FPS
        return SourceInfo(
            path=path, width=frame.width, height=frame.height, aspect=aspect, duration_s=duration,
            fps=fps, has_audio=bool(container.streams.audio), video_codec=stream.codec_context.name,
        )


def video_frames(path: Path) -> int:
    """Video frames in ``path`` (an encoded chunk): the container's count, else counted by demuxing.

    Raises IngestError when the file cannot be read.
    """
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            if stream.frames > 0:
                return int(stream.frames)
            return sum(1 for p in container.demux(stream) if p.size)
    except (av.error.FFmpegError, OSError, IndexError) as exc:
        raise IngestError(f"cannot read {path}: {exc}") from None

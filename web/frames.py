"""Take one still frame out of an fMP4 init segment + media segment and encode it as a JPEG (PyAV)."""

from __future__ import annotations

import io
from fractions import Fraction

import av

from .errors import PosterError

# Prefer a frame this far into the segment: the very first frame of a title is often black.
PREFERRED_SECONDS = 2.0


def poster_jpeg(init: bytes, segment: bytes, width: int) -> bytes:
    """A JPEG ``width`` pixels wide (height keeps the aspect ratio, even) of a frame of the segment.

    The frame is the one nearest PREFERRED_SECONDS into the segment, or its middle frame when the
    segment is shorter. Raises PosterError when the bytes hold no decodable video. CPU-bound: run
    it in a thread.
    """
    try:
        with av.open(io.BytesIO(init + segment), mode="r", format="mp4") as container:
            if not container.streams.video:
                raise PosterError("the segment holds no video stream")
            stream = container.streams.video[0]
            frames = []
            first_time: float | None = None
            for frame in container.decode(stream):
                t = float(frame.time or 0.0)
                first_time = t if first_time is None else first_time
                frames.append(frame)
                if t - first_time >= PREFERRED_SECONDS:
                    break
    except av.error.FFmpegError as exc:
        raise PosterError(f"cannot decode the video: {exc}") from None
    if not frames:
        raise PosterError("the segment holds no decodable frame")
    chosen = frames[-1] if len(frames) > 1 and float(frames[-1].time or 0.0) - (first_time or 0.0) \
        >= PREFERRED_SECONDS else frames[len(frames) // 2]
    height = max(2, round(chosen.height * width / chosen.width / 2) * 2)
    scaled = chosen.reformat(width=width, height=height, format="yuvj420p")
    scaled.pts = 0
    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width, encoder.height = width, height
    encoder.pix_fmt = "yuvj420p"
    encoder.time_base = Fraction(1, 25)
    packets = [*encoder.encode(scaled), *encoder.encode(None)]
    data = b"".join(bytes(p) for p in packets)
    if not data.startswith(b"\xff\xd8"):
        raise PosterError("the JPEG encoder produced no image")
    return data

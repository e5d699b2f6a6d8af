"""ISO BMFF boxes: just enough of an fMP4 init segment to know each track's kind and timescale."""

from __future__ import annotations

import struct
from collections.abc import Iterator


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, body start, body end) of each box in ``data[start:end]``; raises ValueError on a bad size."""
    at = start
    while at + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, at)
        header = 8
        if size == 1:
            if at + 16 > end:
                raise ValueError("truncated 64-bit box size")
            size = struct.unpack_from(">Q", data, at + 8)[0]
            header = 16
        elif size == 0:
            size = end - at  # the box runs to the end of its parent
        if size < header or at + size > end:
            raise ValueError(f"box {kind!r} at {at} has an impossible size {size}")
        yield kind, at + header, at + size
        at += size


def _mdhd_timescale(data: bytes, start: int, end: int) -> int:
    version = data[start] if start < end else -1
    # version 0: creation and modification times are 32-bit, version 1: 64-bit (ISO 14496-12 8.4.2).
    offset = {0: 12, 1: 20}.get(version)
    if offset is None or start + offset + 4 > end:
        raise ValueError("unreadable mdhd box")
    timescale: int = struct.unpack_from(">I", data, start + offset)[0]
    return timescale


def _child(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    """(body start, body end) of the first ``kind`` box directly inside ``data[start:end]``, or None."""
    for found, body, stop in _boxes(data, start, end):
        if found == kind:
            return body, stop
    return None


def track_timescales(init_segment: bytes) -> dict[str, int]:
    """The media timescale of the first track of each kind, by handler type ("vide", "soun").

    Raises ValueError when the init segment has no readable track.
    """
    found: dict[str, int] = {}
    moov = _child(init_segment, 0, len(init_segment), b"moov")
    for kind, body, stop in _boxes(init_segment, *moov) if moov else ():
        mdia = _child(init_segment, body, stop, b"mdia") if kind == b"trak" else None
        if mdia is None:
            continue
        hdlr = _child(init_segment, *mdia, b"hdlr")
        mdhd = _child(init_segment, *mdia, b"mdhd")
        if hdlr is None or mdhd is None or hdlr[1] - hdlr[0] < 12:
            continue
        # hdlr: version/flags (4), pre_defined (4), then the handler type.
        handler = init_segment[hdlr[0] + 8:hdlr[0] + 12].decode("latin-1")
        found.setdefault(handler, _mdhd_timescale(init_segment, *mdhd))
    if not found:
        raise ValueError("init segment has no track with a media header")
    return found

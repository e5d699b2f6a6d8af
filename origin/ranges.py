"""HTTP Range header parsing (RFC 9110 section 14) for byte ranges of stored objects."""

from __future__ import annotations

import re

from .errors import MalformedRange, RangeNotSatisfiable

_NUMBER = re.compile(r"^[0-9]{1,19}$")
# More ranges than this in one request is abuse or a broken client: serve the whole object.
MAX_RANGES = 16


def parse_range(header: str, size: int, max_ranges: int = MAX_RANGES) -> list[tuple[int, int]] | None:
    """Byte ranges of ``header`` within an object of ``size`` bytes, as (start, end) with end exclusive.

    Returns None when the header is to be ignored and the whole object served: a unit other than
    bytes, or more than ``max_ranges`` ranges. Raises MalformedRange for invalid syntax and
    RangeNotSatisfiable when no range overlaps the object.
    """
    unit, sep, spec = header.partition("=")
    if not sep:
        raise MalformedRange(f"malformed Range header {header[:80]!r}")
    if unit.strip().lower() != "bytes":
        return None
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    if not parts:
        raise MalformedRange("Range header names no range")
    if len(parts) > max_ranges:
        return None
    ranges: list[tuple[int, int]] = []
    for part in parts:
        first, dash, last = (s.strip() for s in part.partition("-"))
        if not dash or not (first or last):
            raise MalformedRange(f"malformed range {part[:40]!r}")
        if not first:
            if not _NUMBER.match(last):
                raise MalformedRange(f"malformed suffix range {part[:40]!r}")
            length = int(last)
            if length > 0 and size > 0:
                ranges.append((max(0, size - length), size))
            continue
        if not _NUMBER.match(first) or (last and not _NUMBER.match(last)):
            raise MalformedRange(f"malformed range {part[:40]!r}")
        start = int(first)
        if last and int(last) < start:
            raise MalformedRange(f"range {part[:40]!r} ends before it starts")
        if start >= size:
            continue  # unsatisfiable on its own; others may still be served
        ranges.append((start, min(int(last) + 1, size) if last else size))
    if not ranges:
        raise RangeNotSatisfiable(size)
    return ranges

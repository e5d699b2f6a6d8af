"""Trace readers: each turns a request log into a list of ``Request(key, size)`` in file order.

Formats (see ``shared/traces/README.md``):

- ``umass``: UMass YouTube campus traces, ``timestamp server client GETVIDEO|LLNWD video_id
  content_server``. Only GETVIDEO rows count; the key is ``video_id.split('&')[0]`` (some ids
  carry URL junk); the size is 1 (the trace has none). LLNWD rows are skipped and counted as
  ``ignored``.
- ``tencent``: Tencent Photo CDN, ``timestamp photo_id format size_category return_size
  cache_hit terminal response_ms``, bzip2-compressed or plain (sniffed by content). The key is
  ``photo_id:format:size_category`` and the size is ``return_size``. Rows with
  ``return_size`` 0 moved no bytes; they are skipped and counted as ``ignored`` (the README's
  libCacheSim references are reproduced exactly only without them).
- ``csv``: ``key,size`` per line (csv quoting allowed); a first line whose size is not an
  integer is a header.

Malformed lines (wrong field count, a size that is not a non-negative integer, a bad
timestamp, an unknown request type) are skipped and counted in :attr:`Trace.malformed`, with
the first one kept in :attr:`Trace.first_malformed`; ``strict=True`` raises TraceFormatError on
the first one instead. Blank lines are ignored silently.
"""

from __future__ import annotations

import bz2
import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from .errors import TraceFormatError

FORMATS = ("umass", "tencent", "csv")


class Request(NamedTuple):
    """One request of a trace: the object key and its size in bytes (1 for unsized traces)."""

    key: str
    size: int


@dataclass
class Trace:
    """The requests of one trace file and what the reader had to leave out."""

    requests: list[Request]
    # Lines that were not requests of this format (skipped unless strict).
    malformed: int = 0
    # "line N: reason" of the first malformed line, or "" when there was none.
    first_malformed: str = ""
    # Well-formed lines that are not object fetches (UMass LLNWD rows, Tencent zero-byte responses).
    ignored: int = 0


class _Reader:
    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.trace = Trace([])

    def bad(self, lineno: int, reason: str, line: str) -> None:
        message = f"line {lineno}: {reason}: {line.strip()[:80]!r}"
        if self.strict:
            raise TraceFormatError(message)
        if not self.trace.malformed:
            self.trace.first_malformed = message
        self.trace.malformed += 1


def _open_text(path: Path) -> Iterator[str]:
    try:
        with open(path, "rb") as raw:
            compressed = raw.read(3) == b"BZh"
        stream = bz2.open(path, "rt", encoding="utf-8", errors="replace") if compressed else open(
            path, encoding="utf-8", errors="replace", newline=""
        )
        with stream as fh:
            yield from fh
    except (OSError, EOFError) as exc:
        raise TraceFormatError(f"cannot read trace {path}: {exc}") from exc


def parse_umass(lines: Iterable[str], strict: bool = False) -> Trace:
    """Parse UMass YouTube lines (see the module docstring). Raises TraceFormatError only if strict."""
    reader = _Reader(strict)
    requests = reader.trace.requests
    for lineno, line in enumerate(lines, 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 6:
            reader.bad(lineno, f"expected 6 fields, got {len(fields)}", line)
            continue
        try:
            float(fields[0])
        except ValueError:
            reader.bad(lineno, "timestamp is not a number", line)
            continue
        kind = fields[3]
        if kind == "LLNWD":
            reader.trace.ignored += 1
            continue
        key = fields[4].split("&")[0]
        if kind != "GETVIDEO" or not key:
            reader.bad(lineno, "not a GETVIDEO/LLNWD request with a video id", line)
            continue
        requests.append(Request(key, 1))
    return reader.trace


def parse_tencent(lines: Iterable[str], strict: bool = False) -> Trace:
    """Parse Tencent Photo lines (see the module docstring). Raises TraceFormatError only if strict."""
    reader = _Reader(strict)
    requests = reader.trace.requests
    for lineno, line in enumerate(lines, 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 8:
            reader.bad(lineno, f"expected 8 fields, got {len(fields)}", line)
            continue
        size = _size(fields[4])
        if size is None or not fields[0].isdigit():
            reader.bad(lineno, "timestamp or return_size is not a non-negative integer", line)
            continue
        if size == 0:
            reader.trace.ignored += 1
            continue
        requests.append(Request(f"{fields[1]}:{fields[2]}:{fields[3]}", size))
    return reader.trace


def parse_csv(lines: Iterable[str], strict: bool = False) -> Trace:
    """Parse ``key,size`` lines with an optional header. Raises TraceFormatError only if strict."""
    reader = _Reader(strict)
    requests = reader.trace.requests
    for lineno, row in enumerate(csv.reader(lines), 1):
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) != 2 or not row[0]:
            reader.bad(lineno, f"expected key,size, got {len(row)} fields", ",".join(row))
            continue
        size = _size(row[1])
        if size is None:
            if lineno == 1:
                continue  # a header
            reader.bad(lineno, "size is not a non-negative integer", ",".join(row))
            continue
        requests.append(Request(row[0], size))
    return reader.trace


def _size(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() else None


_PARSERS = {"umass": parse_umass, "tencent": parse_tencent, "csv": parse_csv}


def read_trace(path: Path | str, fmt: str, strict: bool = False) -> Trace:
    """Read a trace file of format ``fmt`` (one of FORMATS); bzip2 is detected for every format.

    Raises TraceFormatError for an unknown format, an unreadable file, or (if strict) a
    malformed line.
    """
    parser = _PARSERS.get(fmt)
    if parser is None:
        raise TraceFormatError(f"unknown trace format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return parser(_open_text(Path(path)), strict)


def parse_text(text: str, fmt: str, strict: bool = False) -> Trace:
    """Parse an in-memory trace (tests, small tools). Same errors as :func:`read_trace`."""
    parser = _PARSERS.get(fmt)
    if parser is None:
        raise TraceFormatError(f"unknown trace format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return parser(io.StringIO(text), strict)

"""HTTP/1.1 wire format of the fast path: request heads, single byte ranges, validators, response heads.

Pure functions over bytes and strings (no sockets, no event loop), so they are property-tested
on their own. Parsing is strict where laxness would be dangerous (request smuggling: conflicting
Content-Length, Transfer-Encoding plus Content-Length, bare CR/LF, obs-fold) and raises
:class:`~appliance.errors.BadRequest` carrying the status to answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from http import HTTPStatus

from .errors import BadRequest, RangeError

# Request heads larger than this are refused with 431 (nginx's large_client_header_buffers is 8k*4).
DEFAULT_MAX_HEAD_BYTES = 16 * 1024
MAX_HEADER_COUNT = 100

_TOKEN_RE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TARGET_RE = re.compile(rb"/[\x21-\x7e]*")
_BAD_VALUE_RE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_RANGE_RE = re.compile(r"\s*bytes\s*=\s*([0-9]*)\s*-\s*([0-9]*)\s*", re.IGNORECASE)
_REASONS = {s.value: s.phrase for s in HTTPStatus}


@dataclass(slots=True)
class RequestHead:
    """One parsed request head. Header names are lowercase; values are raw bytes."""

    method: str
    # The request target before "?" (still percent-encoded) and the query after it.
    path: str
    query: bytes
    http_version: str  # "1.1" or "1.0"
    headers: list[tuple[bytes, bytes]]
    fields: dict[bytes, bytes]
    keep_alive: bool
    # Body length announced by Content-Length (0 when absent); chunked bodies are flagged.
    content_length: int
    chunked: bool

    def get(self, name: bytes) -> str | None:
        """The (last) value of header ``name`` (lowercase) as text, or None."""
        value = self.fields.get(name)
        return None if value is None else value.decode("latin-1")


def parse_head(head: bytes, max_bytes: int = DEFAULT_MAX_HEAD_BYTES) -> RequestHead:
    """Parse a request head (everything before the blank line, which is not included).

    Raises BadRequest: 431 when the head exceeds ``max_bytes`` or has too many fields, 505 for
    an HTTP version other than 1.0/1.1, 400 for anything malformed.
    """
    if len(head) > max_bytes:
        raise BadRequest(431, "request header fields too large")
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3:
        raise BadRequest(400, "malformed request line")
    method, target, version = parts
    if not _TOKEN_RE.fullmatch(method):
        raise BadRequest(400, "malformed method")
    if version not in (b"HTTP/1.1", b"HTTP/1.0"):
        if version.startswith(b"HTTP/") and len(version) == 8:
            raise BadRequest(505, "HTTP version not supported")
        raise BadRequest(400, "malformed request line")
    if not _TARGET_RE.fullmatch(target):
        raise BadRequest(400, "malformed request target")
    if len(lines) - 1 > MAX_HEADER_COUNT:
        raise BadRequest(431, "too many header fields")
    headers: list[tuple[bytes, bytes]] = []
    fields: dict[bytes, bytes] = {}
    lengths: set[bytes] = set()
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN_RE.fullmatch(name):
            raise BadRequest(400, "malformed header field")  # also catches obs-fold (leading space)
        value = value.strip(b" \t")
        if _BAD_VALUE_RE.search(value):
            raise BadRequest(400, "invalid character in a header value")
        name = name.lower()
        if name == b"content-length":
            lengths.add(value)
        headers.append((name, value))
        fields[name] = value
    http_version = "1.1" if version == b"HTTP/1.1" else "1.0"
    chunked = b"transfer-encoding" in fields
    if chunked and lengths:
        raise BadRequest(400, "both Transfer-Encoding and Content-Length")
    content_length = 0
    if lengths:
        if len(lengths) != 1:
            raise BadRequest(400, "conflicting Content-Length values")
        text = lengths.pop()
        if not text.isdigit() or len(text) > 18:
            raise BadRequest(400, "malformed Content-Length")
        content_length = int(text)
    connection = fields.get(b"connection", b"").lower()
    if http_version == "1.1":
        keep_alive = b"close" not in connection
    else:
        keep_alive = b"keep-alive" in connection
    raw_path, _, query = target.partition(b"?")
    return RequestHead(
        method=method.decode("ascii"),
        path=raw_path.decode("ascii"),
        query=query,
        http_version=http_version,
        headers=headers,
        fields=fields,
        keep_alive=keep_alive,
        content_length=content_length,
        chunked=chunked,
    )


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """The single byte range ``header`` asks of a ``size``-byte file, as (start, end exclusive).

    Returns None when the header lists several ranges (the caller serves those another way).
    Raises RangeError: 416 when the range starts at or beyond the end of the file (a zero
    suffix included), 400 when the header is not a byte range or its start exceeds its end.
    """
    if "," in header:
        if not header.strip().lower().startswith("bytes"):
            raise RangeError(400, "only byte ranges are supported", size)
        return None
    m = _RANGE_RE.fullmatch(header)
    if m is None:
        raise RangeError(400, "malformed Range header", size)
    first, last = m.group(1), m.group(2)
    if first:
        start = int(first)
        if start >= size:
            raise RangeError(416, "range not satisfiable", size)
        if not last:
            return start, size
        end = int(last)
        if end < start:
            raise RangeError(400, "range start exceeds its end", size)
        return start, min(end + 1, size)
    if not last:
        raise RangeError(400, "malformed Range header", size)
    suffix = int(last)
    if suffix == 0 or size == 0:
        raise RangeError(416, "range not satisfiable", size)
    return max(size - suffix, 0), size


def etag_matches(if_none_match: str, etag: str) -> bool:
    """If-None-Match uses weak comparison: W/ prefixes are ignored; "*" matches anything."""
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))


def if_range_allows(if_range: str, etag: str, last_modified: str) -> bool:
    """True when If-Range still names this representation (strong ETag or exact date)."""
    if if_range.startswith("W/"):
        return False
    return if_range in (etag, last_modified)


def response_head(status: int, headers: Iterable[tuple[str, str]]) -> bytes:
    """The status line and header block of a response, ending with the blank line."""
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    lines.append("\r\n")
    return "\r\n".join(lines).encode("latin-1")

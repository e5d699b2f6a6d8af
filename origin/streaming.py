"""Responses that stream a stored object from a store without local files (S3): whole, one Range
(206 + Content-Range) or several (multipart/byteranges), and HEAD without a body.

The ranges arrive already validated (``origin.ranges.parse_range``); each one becomes one ranged
read of the store, pulled chunk by chunk in a worker thread, so memory stays at one chunk.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping

import anyio.to_thread
from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from streamfleet.addressing import ChunkKey

from .store import ObjectStore


def _next(chunks: Iterator[bytes]) -> bytes | None:
    return next(chunks, None)


class ObjectResponse(Response):
    """``ranges`` None: the whole object (200); else 206 with the given (start, end-exclusive) ranges."""

    def __init__(self, store: ObjectStore, key: ChunkKey, size: int, ranges: list[tuple[int, int]] | None,
                 media_type: str, headers: Mapping[str, str]) -> None:
        super().__init__(status_code=200, headers=headers, media_type=media_type)
        self.store = store
        self.key = key
        self.size = size
        self.ranges = ranges

    async def _send_range(self, send: Send, start: int, end: int) -> None:
        chunks = await anyio.to_thread.run_sync(self.store.read, self.key, start, end)
        try:
            while (chunk := await anyio.to_thread.run_sync(_next, chunks)) is not None:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                await anyio.to_thread.run_sync(close)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        head = scope.get("method") == "HEAD"
        headers = MutableHeaders(raw=list(self.raw_headers))
        media_type = headers["content-type"]
        parts: list[tuple[bytes, int, int]] = []
        trailer = b""
        if self.ranges is None:
            status, length = 200, self.size
            parts = [(b"", 0, self.size)]
        elif len(self.ranges) == 1:
            (start, end), status, length = self.ranges[0], 206, self.ranges[0][1] - self.ranges[0][0]
            headers["content-range"] = f"bytes {start}-{end - 1}/{self.size}"
            parts = [(b"", start, end)]
        else:
            boundary = secrets.token_hex(13)
            status = 206
            headers["content-type"] = f"multipart/byteranges; boundary={boundary}"
            parts = [(f"--{boundary}\r\nContent-Type: {media_type}\r\nContent-Range: bytes "
                      f"{start}-{end - 1}/{self.size}\r\n\r\n".encode("latin-1"), start, end)
                     for start, end in self.ranges]
            trailer = f"--{boundary}--".encode("latin-1")
            length = sum(len(h) + (end - start) + 2 for h, start, end in parts) + len(trailer)
        headers["content-length"] = str(length)
        await send({"type": "http.response.start", "status": status, "headers": headers.raw})
        if not head:
            for preamble, start, end in parts:
                if preamble:
                    await send({"type": "http.response.body", "body": preamble, "more_body": True})
                await self._send_range(send, start, end)
                if trailer:  # each part of a multipart body ends with CRLF
                    await send({"type": "http.response.body", "body": b"\r\n", "more_body": True})
            if trailer:
                await send({"type": "http.response.body", "body": trailer, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

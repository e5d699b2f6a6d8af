"""ChunkFileResponse: starlette's FileResponse (HEAD, Range, If-Range) for pinned chunks."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from starlette.datastructures import Headers
from starlette.responses import FileResponse, MalformedRangeHeader, RangeNotSatisfiable, Response
from starlette.types import Message, Receive, Scope, Send

from streamfleet.httpkit import json_error

from .store import StoredChunk


class ChunkFileResponse(FileResponse):
    """Serves a pinned chunk from disk; ``on_done(body_bytes_sent)`` runs exactly once at the end.

    ``on_done`` is where the caller unpins the chunk, so eviction cannot delete the file while it
    is being read, even when the client disconnects half-way.
    """

    def __init__(
        self,
        chunk: StoredChunk,
        headers: Mapping[str, str],
        media_type: str,
        on_done: Callable[[int], None],
    ) -> None:
        super().__init__(chunk.path, headers=headers, media_type=media_type, stat_result=chunk.stat)
        self._on_done = on_done
        self._size = chunk.size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sent = 0

        async def counting_send(message: Message) -> None:
            nonlocal sent
            if message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            elif message["type"] == "http.response.pathsend":
                sent += self._size
            await send(message)

        try:
            error = self._range_error(scope)
            if error is not None:
                await error(scope, receive, send)
                return
            await super().__call__(scope, receive, counting_send)
        finally:
            self._on_done(sent)

    def _range_error(self, scope: Scope) -> Response | None:
        """The JSON 400/416 for a Range header FileResponse would reject (it answers plain text)."""
        headers = Headers(scope=scope)
        http_range = headers.get("range")
        if http_range is None or scope["method"].upper() not in ("GET", "HEAD") or self.stat_result is None:
            return None
        if_range = headers.get("if-range")
        if if_range is not None and not self._should_use_range(if_range):
            return None  # a stale If-Range means "send it all", never an error
        try:
            self._parse_range_header(http_range, self.stat_result.st_size)
        except MalformedRangeHeader as exc:
            return json_error(400, exc.content)
        except RangeNotSatisfiable as exc:
            response = json_error(416, "range not satisfiable")
            response.headers["content-range"] = f"bytes */{exc.max_size}"
            return response
        return None

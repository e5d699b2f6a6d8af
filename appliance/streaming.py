"""Stream a miss to its viewers while the fill is still writing it, never completing unverified bytes.

A plain GET of a chunk being filled is answered as soon as the upstream body starts arriving:
the bytes are read back from the fill's temp file as they land. The last byte is held back until
the fill has verified size and sha256 and committed the chunk; if verification fails the response
is aborted (the connection is reset), so a client never receives a complete, wrong chunk.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from streamfleet.addressing import ChunkKey

from .core import Appliance, Served
from .errors import ApplianceError
from .progress import FillProgress

log = logging.getLogger(__name__)

_READ_BYTES = 256 * 1024


class TransferAborted(ApplianceError):
    """The fill being streamed failed verification: the response must be cut off."""


async def stream_behind_fill(
    appliance: Appliance, request: Request, key: ChunkKey, peer_request: bool
) -> Response | Served | None:
    """Start the fill of a plain GET's chunk and answer while it is still being written.

    Returns a streaming response once the fill's body starts arriving; the fill's own outcome
    (a pinned :class:`Served` the caller must unpin, or its ApplianceError raised) when the fill
    ends before its body starts, so a failed fill is reported, never fetched a second time; and
    None for HEAD, Range and conditional requests and chunks already stored (the caller then
    calls ``obtain`` itself).
    """
    if request.method != "GET" or key in appliance.store:
        return None
    if "range" in request.headers or "if-none-match" in request.headers:
        return None
    obtain = asyncio.get_running_loop().create_task(appliance.obtain(key, peer_request=peer_request))
    fetcher = appliance.fetcher
    progress = fetcher.progress(key)
    try:
        while progress is None and not obtain.done():
            waiter = asyncio.ensure_future(fetcher.published())
            try:
                await asyncio.wait({obtain, waiter}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
            progress = fetcher.progress(key)
        fd = -1 if progress is None else _open(progress)
        if fd < 0:
            # The fill ended before its body started, or committed (renamed) meanwhile: its
            # outcome is the answer. The pin obtain() took passes to the caller.
            return await asyncio.shield(obtain)
    except asyncio.CancelledError:
        obtain.add_done_callback(lambda task: _release(appliance, key, task))
        raise
    assert progress is not None
    # The streamed response reads the temp file: the pin obtain() takes is not needed.
    obtain.add_done_callback(lambda task: _release(appliance, key, task))
    headers = {
        "content-length": str(progress.size),
        "etag": f'"{progress.sha256}"',
        "x-cache": "MISS",
        "accept-ranges": "bytes",
    }
    return StreamingResponse(
        _body(appliance, fd, progress, obtain), headers=headers, media_type=key.content_type
    )


def _open(progress: FillProgress) -> int:
    """A read descriptor of the fill's temp file; -1 when it was already renamed into place."""
    try:
        return os.open(progress.path, os.O_RDONLY)
    except OSError:
        return -1


def _release(appliance: Appliance, key: ChunkKey, task: asyncio.Task[Served]) -> None:
    """Drop the pin of an obtain() whose chunk nobody will send from the store."""
    if task.cancelled() or task.exception() is not None:
        return
    appliance.store.unpin(key)


async def _body(
    appliance: Appliance, fd: int, progress: FillProgress, obtain: asyncio.Task[Served]
) -> AsyncIterator[bytes]:
    sent = 0
    result = "error"
    try:
        # Everything but the last byte as it lands; the last one only once the fill verified.
        while sent < progress.size - 1:
            await progress.wait_beyond(sent)
            if progress.ok is False:
                raise TransferAborted("fill failed while streaming")
            limit = progress.size - 1 if progress.ok is None else progress.size
            want = min(progress.written, limit) - sent
            if want <= 0:
                continue
            data = await asyncio.to_thread(os.pread, fd, min(want, _READ_BYTES), sent)
            if not data:
                raise TransferAborted("temp file shorter than reported")
            sent += len(data)
            yield data
        # The last byte depends on the fill's own verdict only: obtain() may return a moment
        # before the fill records it (the committed chunk is already in the store), or fail
        # after it (a full store evicted the chunk before it could be pinned) -- the bytes in
        # this temp file were verified all the same.
        if not await progress.finished():
            raise TransferAborted("fill did not verify")
        if sent < progress.size:
            data = await asyncio.to_thread(os.pread, fd, progress.size - sent, sent)
            sent += len(data)
            yield data
        try:
            result = (await asyncio.shield(obtain)).result
        except ApplianceError:
            result = "miss"
    except (ApplianceError, OSError) as exc:
        log.warning("aborting a streamed miss", extra={"path": str(progress.path), "error": str(exc)})
        raise
    finally:
        os.close(fd)
        appliance.stats.count(result, sent)

"""A small tus 1.0 client (httpx): create, resume from the server's offset, stream large PATCHes.

The file is streamed from disk in blocks (never whole in memory); with ``checksum`` each PATCH
carries an ``Upload-Checksum: sha1`` computed by a first read of its range. Resume state (the
upload URL of a file, keyed by path + size + mtime) lives in a small JSON file.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from .uploads import encode_metadata

TUS_HEADERS = {"Tus-Resumable": "1.0.0"}
BLOCK = 1 << 20
DEFAULT_CHUNK = 256 << 20
# 409 answers (offset mismatch / upload busy) retried after re-reading the server's offset.
CONFLICT_RETRIES = 5


class TusClientError(Exception):
    """The server refused the upload; the message carries its status and error text."""


@dataclass(frozen=True)
class UploadOutcome:
    url: str
    length: int
    # Bytes sent by this run (less than length when it resumed).
    sent: int
    # Title id the origin queued, from X-Streamfleet-Title.
    title: str | None


def _refusal(response: httpx.Response, doing: str) -> TusClientError:
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.text[:200] or response.reason_phrase
    return TusClientError(f"{doing}: HTTP {response.status_code}: {message}")


def _file_range(path: Path, start: int, length: int) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        fh.seek(start)
        left = length
        while left > 0:
            block = fh.read(min(BLOCK, left))
            if not block:
                raise TusClientError(f"{path} shrank while uploading")
            left -= len(block)
            yield block


def _sha1_b64(path: Path, start: int, length: int) -> str:
    digest = hashlib.sha1()
    for block in _file_range(path, start, length):
        digest.update(block)
    return base64.b64encode(digest.digest()).decode()


class TusUploader:
    """Uploads files to one tus endpoint (e.g. ``http://127.0.0.1:8000/v1/uploads``)."""

    def __init__(self, endpoint: str, token: str | None = None, chunk_size: int = DEFAULT_CHUNK,
                 checksum: bool = True, timeout: float = 120.0) -> None:
        self.endpoint = endpoint
        self.chunk_size = chunk_size
        self.checksum = checksum
        headers = dict(TUS_HEADERS)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.Client(headers=headers, timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> TusUploader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def create(self, length: int, metadata: Mapping[str, str]) -> str:
        """A new upload's absolute URL. Raises TusClientError."""
        response = self._client.post(self.endpoint, headers={"Upload-Length": str(length),
                                                             "Upload-Metadata": encode_metadata(metadata)})
        if response.status_code != 201 or "location" not in response.headers:
            raise _refusal(response, "creating the upload")
        return str(httpx.URL(self.endpoint).join(response.headers["location"]))

    def offset(self, url: str) -> int | None:
        """The server's offset of the upload; None when it no longer knows it. Raises TusClientError."""
        response = self._client.head(url)
        if response.status_code in (404, 410):
            return None
        if response.status_code != 200:
            raise _refusal(response, "asking for the upload offset")
        return int(response.headers["upload-offset"])

    def title(self, url: str) -> str | None:
        """The title id the origin made of a completed upload; None when unknown or not complete."""
        response = self._client.head(url)
        return response.headers.get("x-streamfleet-title") if response.status_code == 200 else None

    def send(self, path: Path, url: str, offset: int, length: int,
             progress: Callable[[int], None] | None = None) -> UploadOutcome:
        """PATCH ``path`` from ``offset`` to ``length`` in chunks. Raises TusClientError."""
        sent = 0
        conflicts = 0
        title: str | None = None
        while offset < length:
            size = min(self.chunk_size, length - offset)
            headers = {"Content-Type": "application/offset+octet-stream", "Upload-Offset": str(offset),
                       "Content-Length": str(size)}
            if self.checksum:
                headers["Upload-Checksum"] = f"sha1 {_sha1_b64(path, offset, size)}"
            body = self._counted(_file_range(path, offset, size), offset, progress)
            response = self._client.patch(url, content=body, headers=headers)
            if response.status_code == 409 and conflicts < CONFLICT_RETRIES:
                # The server is still finishing a PATCH of ours that was cut off (or our offset is
                # stale): wait for it, then continue from the offset it reports.
                conflicts += 1
                time.sleep(0.1 * conflicts)
                server_offset = self.offset(url)
                if server_offset is None:
                    raise _refusal(response, "resuming the upload")
                offset = server_offset
                continue
            if response.status_code != 204:
                raise _refusal(response, f"sending bytes {offset}-{offset + size - 1}")
            conflicts = 0
            new_offset = int(response.headers["upload-offset"])
            sent += new_offset - offset
            offset = new_offset
            title = response.headers.get("x-streamfleet-title", title)
        return UploadOutcome(url, length, sent, title)

    @staticmethod
    def _counted(blocks: Iterator[bytes], start: int,
                 progress: Callable[[int], None] | None) -> Iterator[bytes]:
        done = start
        for block in blocks:
            yield block
            done += len(block)
            if progress is not None:
                progress(done)


class ResumeState:
    """Upload URLs of files not yet fully sent, in a JSON file: ``{fingerprint: url}``."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @staticmethod
    def fingerprint(source: Path, endpoint: str) -> str:
        st = source.stat()
        return f"{endpoint}|{source.resolve()}|{st.st_size}|{st.st_mtime_ns}"

    def _load(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def get(self, key: str) -> str | None:
        return self._load().get(key)

    def put(self, key: str, url: str | None) -> None:
        """Remember ``url`` for ``key`` (None forgets it); written atomically."""
        data = self._load()
        if url is None:
            data.pop(key, None)
        else:
            data[key] = url
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, self.path)


def _bind_total(progress: Callable[[int, int], None], total: int) -> Callable[[int], None]:
    return lambda done: progress(done, total)


def upload_file(uploader: TusUploader, source: Path, metadata: Mapping[str, str], state: ResumeState,
                progress: Callable[[int, int], None] | None = None) -> UploadOutcome:
    """Upload ``source``, resuming the upload recorded in ``state`` when the server still has it.

    ``progress(done, total)`` is called as bytes go out. Raises TusClientError, OSError.
    """
    length = source.stat().st_size
    key = ResumeState.fingerprint(source, uploader.endpoint)
    url = state.get(key)
    offset = uploader.offset(url) if url else None
    if url is None or offset is None:
        url = uploader.create(length, metadata)
        offset = 0
        state.put(key, url)
    report: Callable[[int], None] | None = None
    if progress is not None:
        progress(offset, length)
        report = _bind_total(progress, length)
    try:
        outcome = uploader.send(source, url, offset, length, report)
        if outcome.title is None:  # completed by an earlier run whose last answer was lost
            outcome = UploadOutcome(url, length, outcome.sent, uploader.title(url))
    except TusClientError:
        with contextlib.suppress(TusClientError, httpx.HTTPError):
            if uploader.offset(url) is None:  # refused and removed (e.g. not a video): start over next time
                state.put(key, None)
        raise
    state.put(key, None)
    return outcome

"""Resumable upload storage (the tus data model): one append-only data file plus a JSON record each.

``root/{id}.part`` holds the bytes received so far, so the upload's offset is simply that file's
size; ``root/{id}.json`` records length, owner and metadata. Bytes are appended with ``os.write``
on a file descriptor, never held in memory. The HTTP adapter (app_uploads) speaks the protocol.
Safe across processes, including origin copies sharing ``root`` on a shared volume: whoever writes,
completes or removes an upload holds an exclusive ``flock`` on its data file, taken without
waiting, so a second request for the same upload, in any process, is refused instead of
interleaving bytes or completing the upload twice.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import UploadError

_ID_ALPHABET = set("0123456789abcdef")


@dataclass(frozen=True)
class Upload:
    id: str
    owner: str
    length: int
    metadata: Mapping[str, str]
    created: float
    # Set once the upload completed and was accepted as a title.
    title: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)


def parse_metadata(header: str) -> dict[str, str]:
    """Decode a tus ``Upload-Metadata`` header (``key base64value,key2 base64value2``).

    Raises UploadError(400) for malformed pairs or values that are not UTF-8.
    """
    out: dict[str, str] = {}
    for pair in header.split(","):
        pair = pair.strip()
        if not pair:
            continue
        key, _, value = pair.partition(" ")
        if not key or " " in value.strip() or key in out:
            raise UploadError(400, f"malformed Upload-Metadata pair {key!r}")
        try:
            out[key] = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except ValueError:  # binascii.Error, UnicodeDecodeError, non-ASCII text: all ValueErrors
            raise UploadError(400, f"Upload-Metadata value of {key!r} is not base64 of UTF-8") from None
    return out


def encode_metadata(metadata: Mapping[str, str]) -> str:
    """The ``Upload-Metadata`` header for ``metadata``."""
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in metadata.items())


class UploadStore:
    """Uploads under ``root``. ``max_size`` 0 means unlimited."""

    def __init__(self, root: Path, max_size: int, clock: Callable[[], float] = time.time) -> None:
        self.root = root
        self.max_size = max_size
        self._clock = clock
        root.mkdir(parents=True, exist_ok=True)

    def _checked(self, upload_id: str) -> str:
        # Ids are ours (hex); anything else never reaches the filesystem.
        if len(upload_id) != 32 or not set(upload_id) <= _ID_ALPHABET:
            raise UploadError(404, "no such upload")
        return upload_id

    def data_path(self, upload_id: str) -> Path:
        return self.root / f"{self._checked(upload_id)}.part"

    def _record_path(self, upload_id: str) -> Path:
        return self.root / f"{self._checked(upload_id)}.json"

    def _write_record(self, upload: Upload) -> None:
        path = self._record_path(upload.id)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(asdict(upload)))
        os.replace(tmp, path)

    def create(self, owner: str, length: int, metadata: Mapping[str, str],
               extra: Mapping[str, str] | None = None) -> Upload:
        """A new, empty upload of ``length`` bytes. Raises UploadError(413) past ``max_size``."""
        if length < 0:
            raise UploadError(400, "Upload-Length must be a non-negative integer")
        if self.max_size and length > self.max_size:
            raise UploadError(413, f"upload of {length} bytes exceeds the maximum of {self.max_size}")
        upload = Upload(secrets.token_hex(16), owner, length, dict(metadata), self._clock(), None,
                        dict(extra or {}))
        self.data_path(upload.id).touch(exist_ok=False)
        self._write_record(upload)
        return upload

    def get(self, upload_id: str) -> Upload:
        """The upload's record. Raises UploadError(404)."""
        try:
            data = json.loads(self._record_path(upload_id).read_text())
        except FileNotFoundError:
            raise UploadError(404, "no such upload") from None
        return Upload(**data)

    def offset(self, upload_id: str) -> int:
        """Bytes received so far (the whole length once the upload completed)."""
        upload = self.get(upload_id)
        if upload.title is not None:
            return upload.length
        try:
            return self.data_path(upload_id).stat().st_size
        except FileNotFoundError:
            raise UploadError(404, "no such upload") from None

    def _open_locked(self, upload_id: str, flags: int) -> int:
        """The upload's data file opened with ``flags`` and exclusively locked until the descriptor
        is closed. Raises BlockingIOError when another request (in any process) holds the lock,
        FileNotFoundError when the data file is gone (completed, removed)."""
        path = self.data_path(upload_id)
        fd = os.open(path, flags)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # The previous holder may have completed (moved away) or removed the upload between
            # our open and our lock: only the file still under the upload's name counts.
            held, named = os.fstat(fd), os.stat(path)
            if (held.st_dev, held.st_ino) != (named.st_dev, named.st_ino):
                raise FileNotFoundError(str(path))
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _gone(self, upload_id: str) -> UploadError:
        """Why the data file of an upload is missing: 404 when the upload is unknown, else 409."""
        upload = self.get(upload_id)  # raises UploadError(404) once the record is gone too
        if upload.title is not None:
            return UploadError(409, "upload is already complete")
        return UploadError(409, "another request is completing this upload")

    def open_append(self, upload_id: str, offset: int) -> int:
        """A file descriptor appending to the upload at ``offset``, holding the upload's lock until
        the caller closes it (so the caller may also complete the upload under it).

        Raises UploadError(409) when another request is writing the upload, when it is complete or
        when ``offset`` is not the current offset; 404 when unknown.
        """
        try:
            fd = self._open_locked(upload_id, os.O_WRONLY | os.O_APPEND)
        except BlockingIOError:
            raise UploadError(409, "another request is writing this upload") from None
        except FileNotFoundError:
            raise self._gone(upload_id) from None
        try:
            if self.get(upload_id).title is not None:
                raise UploadError(409, "upload is already complete")
            size = os.fstat(fd).st_size
            if size != offset:
                raise UploadError(409, f"Upload-Offset {offset} does not match the current offset {size}")
        except BaseException:
            os.close(fd)
            raise
        return fd

    @contextlib.contextmanager
    def _locked(self, upload_id: str) -> Iterator[bool]:
        """Holds the upload's lock for the block; yields False when its data file is gone.
        Raises BlockingIOError when another request holds the lock."""
        try:
            # Opened for writing (never written): NFS emulates flock with POSIX locks, and an
            # exclusive one needs a descriptor open for writing.
            fd = self._open_locked(upload_id, os.O_WRONLY)
        except FileNotFoundError:
            yield False
            return
        try:
            yield True
        finally:
            os.close(fd)

    def terminate(self, upload_id: str) -> None:
        """Remove the upload (tus termination). Raises UploadError(423) while a request in any
        process is writing or completing it, 404 when unknown."""
        try:
            with self._locked(upload_id):
                found = self.delete(upload_id)
        except BlockingIOError:
            raise UploadError(423, "upload is being written; try again") from None
        if not found:
            raise UploadError(404, "no such upload")

    def finish(self, upload_id: str, title: str) -> None:
        """Record that the upload became ``title`` (its data file has been moved away)."""
        upload = self.get(upload_id)
        self._write_record(Upload(upload.id, upload.owner, upload.length, upload.metadata, upload.created,
                                  title, upload.extra))

    def delete(self, upload_id: str) -> bool:
        """Remove the upload's data and record; False when it did not exist."""
        found = False
        for path in (self.data_path(upload_id), self._record_path(upload_id)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                found = True
        return found

    def _touched(self, upload: Upload) -> float:
        """When the upload last received bytes (its creation when it has none, or no data file)."""
        try:
            return max(upload.created, self.data_path(upload.id).stat().st_mtime)
        except FileNotFoundError:
            return upload.created

    def expire(self, max_age: float) -> list[str]:
        """Remove uploads untouched for more than ``max_age`` seconds; returns their ids. Skips
        uploads a request (in any process sharing ``root``) is writing right now."""
        removed = []
        cutoff = self._clock() - max_age
        for record in self.root.glob("*.json"):
            with contextlib.suppress(UploadError, ValueError, OSError):  # BlockingIOError: busy
                upload = self.get(record.stem)
                if self._touched(upload) < cutoff:
                    with self._locked(upload.id):
                        self.delete(upload.id)
                    removed.append(upload.id)
        return removed

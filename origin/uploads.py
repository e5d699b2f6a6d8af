"""Resumable upload storage (the tus data model): one append-only data file plus a JSON record each.

``root/{id}.part`` holds the bytes received so far, so the upload's offset is simply that file's
size; ``root/{id}.json`` records length, owner and metadata. Bytes are appended with ``os.write``
on a file descriptor, never held in memory. The HTTP adapter (app_uploads) speaks the protocol.
Safe across processes for distinct uploads; one upload is written by one request at a time (the
adapter holds a per-upload lock).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import secrets
import time
from collections.abc import Callable, Mapping
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
        except (binascii.Error, UnicodeDecodeError):
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

    def open_append(self, upload_id: str, offset: int) -> int:
        """A file descriptor appending to the upload at ``offset``; the caller closes it.

        Raises UploadError(409) when ``offset`` is not the current offset, 404 when unknown.
        """
        fd = os.open(self.data_path(upload_id), os.O_WRONLY | os.O_APPEND)
        try:
            size = os.fstat(fd).st_size
            if size != offset:
                raise UploadError(409, f"Upload-Offset {offset} does not match the current offset {size}")
        except BaseException:
            os.close(fd)
            raise
        return fd

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

    def expire(self, max_age: float) -> list[str]:
        """Remove unfinished uploads created more than ``max_age`` seconds ago; returns their ids."""
        removed = []
        cutoff = self._clock() - max_age
        for record in self.root.glob("*.json"):
            with contextlib.suppress(UploadError, ValueError, OSError):
                upload = self.get(record.stem)
                if upload.created < cutoff:
                    self.delete(upload.id)
                    removed.append(upload.id)
        return removed

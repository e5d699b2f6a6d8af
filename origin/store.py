"""The object store seam: the files of every title, addressed only by ChunkKey, on any backend.

``open_object_store(url, default_root)`` picks the implementation from the config's URL: empty or
``file:///path`` is the filesystem (:mod:`origin.store_fs`), ``s3://bucket/prefix?endpoint=...``
an S3-compatible service (:mod:`origin.store_s3`). Objects are immutable once written (a re-encode
is a new title id) and appear whole or not at all. Reads stream: no implementation holds a whole
object in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from streamfleet.addressing import ChunkKey

from .errors import OriginError

# Bytes per chunk handed out by ``read``: large enough for throughput, small enough for memory.
READ_CHUNK = 256 * 1024


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    # Unix seconds of the last write.
    modified: float


class ObjectStore(Protocol):
    """Every method may block (disk or network): call from a worker thread in async code. Safe
    across threads and processes; two writers of one key race harmlessly (last write wins)."""

    def put_chunks(self, key: ChunkKey, chunks: Iterable[bytes]) -> int:
        """Store ``chunks`` as ``key`` atomically; returns its size. If iterating ``chunks`` raises,
        nothing is stored (an older object under the key stays). Raises AddressError for a bad key."""
        ...

    def put_bytes(self, key: ChunkKey, data: bytes) -> int: ...

    def put_file(self, key: ChunkKey, source: Path) -> int:
        """Copy the file ``source`` in as ``key`` atomically; returns its size."""
        ...

    def move_file(self, key: ChunkKey, source: Path) -> int:
        """Move ``source`` in as ``key`` (``source`` is gone afterwards); returns its size."""
        ...

    def stat(self, key: ChunkKey) -> ObjectInfo:
        """Size and write time. Raises ObjectNotFound."""
        ...

    def read(self, key: ChunkKey, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes ``start`` up to ``end`` (exclusive; None: the end) in chunks of at most
        READ_CHUNK. Raises ObjectNotFound at once (not on the first chunk) when there is no object.
        Close the iterator (or exhaust it) to release the file or connection."""
        ...

    def local_path(self, key: ChunkKey) -> Path | None:
        """A file holding the object, for zero-copy serving; None when the store is remote."""
        ...

    def exists(self, key: ChunkKey) -> bool: ...

    def delete(self, key: ChunkKey) -> bool:
        """Remove one object; False when it was not there."""
        ...

    def delete_title(self, title: str) -> bool:
        """Remove every object of ``title``; False when it had none. Raises AddressError."""
        ...

    def titles(self) -> list[str]:
        """Title ids with objects in the store (for finding orphans), sorted."""
        ...

    def check(self) -> None:
        """Raise OSError or ObjectStoreError when the store cannot be used (for health checks)."""
        ...

    def close(self) -> None: ...


class ObjectStoreError(OriginError):
    """The object store is misconfigured or unreachable; the message says which and why."""


def open_object_store(url: str, default_root: Path) -> ObjectStore:
    """The store ``url`` names: "" (``default_root`` on the filesystem), ``file:///path`` or
    ``s3://bucket[/prefix][?endpoint=URL&region=NAME]``. S3 credentials come from the usual AWS
    sources (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, profiles, instance roles), never the URL.
    Raises ObjectStoreError for an unusable URL.
    """
    if not url:
        from .store_fs import FileObjectStore

        return FileObjectStore(default_root)
    parts = urlsplit(url)
    if parts.scheme == "file":
        from .store_fs import FileObjectStore

        if parts.netloc not in ("", "localhost"):
            raise ObjectStoreError(f"object_store_url {url!r}: a file URL names a local path (file:///path)")
        return FileObjectStore(Path(unquote(parts.path)))
    if parts.scheme == "s3":
        from .store_s3 import S3ObjectStore

        if not parts.netloc:
            raise ObjectStoreError(f"object_store_url {url!r} names no bucket (s3://bucket/prefix)")
        options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = sorted(set(options) - {"endpoint", "region"})
        if unknown:
            raise ObjectStoreError(f"object_store_url: unknown option {unknown[0]!r} (endpoint, region)")
        return S3ObjectStore.connect(parts.netloc, parts.path.strip("/"),
                                     endpoint_url=options.get("endpoint"), region=options.get("region"))
    raise ObjectStoreError(f"object_store_url {url!r}: expected file:///path or s3://bucket/prefix")

"""Filesystem object store: the files of every title under one directory, addressed only by ChunkKey.

Writes are atomic (temp file in the target directory, fsync, rename, fsync of the directory), so
a reader sees either nothing or the whole object, also after a crash. Objects are immutable once
written: a re-encode is a new title id. Safe across threads and processes; two writers of the same
key race harmlessly (last rename wins), and ingest reserves a title id before writing under it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from streamfleet.addressing import ChunkKey, master_key, parse_key

from .errors import ObjectNotFound
from .store import READ_CHUNK, ObjectInfo

_COPY_CHUNK = 1 << 20


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileObjectStore:
    """Objects under ``root``: ``root/{title}/{rendition}/{name}`` (the key's relative path).
    Implements :class:`origin.store.ObjectStore`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: ChunkKey) -> Path:
        """Where ``key`` lives. Raises AddressError for a key outside the addressing scheme."""
        # Re-parse so a hand-built ChunkKey can never smuggle '..' or '/' into the path.
        checked = parse_key(key.cache_key)
        return self.root / checked.relative_path

    def title_dir(self, title: str) -> Path:
        """The directory of one title. Raises AddressError for an invalid title id."""
        return self.path(master_key(title)).parent

    # -- writing ---------------------------------------------------------------------------
    def put_chunks(self, key: ChunkKey, chunks: Iterable[bytes]) -> int:
        """Store ``chunks`` as the object ``key`` atomically; returns its size.

        If iterating ``chunks`` raises, nothing is stored and no temp file is left behind.
        """
        final = self.path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=final.parent)
        size = 0
        try:
            with os.fdopen(fd, "wb") as fh:
                for chunk in chunks:
                    fh.write(chunk)
                    size += len(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp_name, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise
        _fsync_dir(final.parent)
        return size

    def put_bytes(self, key: ChunkKey, data: bytes) -> int:
        return self.put_chunks(key, [data])

    def put_file(self, key: ChunkKey, source: Path) -> int:
        """Copy the file ``source`` in as ``key`` atomically; returns its size."""
        with open(source, "rb") as fh:
            return self.put_chunks(key, iter(lambda: fh.read(_COPY_CHUNK), b""))

    def move_file(self, key: ChunkKey, source: Path) -> int:
        """Move ``source`` in as ``key`` (rename when on the same filesystem); returns its size.

        ``source`` is fsynced before the rename so the object is durable once it is visible.
        """
        final = self.path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        with open(source, "rb") as fh:
            os.fsync(fh.fileno())
            size = os.fstat(fh.fileno()).st_size
        try:
            os.replace(source, final)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            size = self.put_file(key, source)
            source.unlink()
            return size
        _fsync_dir(final.parent)
        return size

    # -- reading ---------------------------------------------------------------------------
    def stat(self, key: ChunkKey) -> ObjectInfo:
        """Size and write time. Raises ObjectNotFound."""
        try:
            result = os.stat(self.path(key))
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectNotFound(key.cache_key) from None
        return ObjectInfo(result.st_size, result.st_mtime)

    def read(self, key: ChunkKey, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes ``start``..``end`` (exclusive) in chunks. Raises ObjectNotFound at once."""
        fh = self.open(key)
        return _chunks(fh, start, end)

    def local_path(self, key: ChunkKey) -> Path:
        return self.path(key)

    def open(self, key: ChunkKey) -> BinaryIO:
        """An open binary file of the object (the caller closes it). Raises ObjectNotFound."""
        try:
            return open(self.path(key), "rb")
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectNotFound(key.cache_key) from None

    def exists(self, key: ChunkKey) -> bool:
        return self.path(key).is_file()

    # -- deleting --------------------------------------------------------------------------
    def delete(self, key: ChunkKey) -> bool:
        """Remove one object; returns False when it was not there."""
        try:
            os.unlink(self.path(key))
        except FileNotFoundError:
            return False
        return True

    def delete_title(self, title: str) -> bool:
        """Remove every object of ``title``; returns False when it had none."""
        directory = self.title_dir(title)
        if not directory.exists():
            return False
        shutil.rmtree(directory)
        return True

    def titles(self) -> list[str]:
        """Title ids that have a directory in the store (for finding orphans), sorted."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir())

    def check(self) -> None:
        """Raise OSError when the root directory is gone (e.g. an unmounted volume)."""
        if not self.root.is_dir():
            raise OSError(f"object store {self.root} is missing")

    def close(self) -> None:
        pass


def _chunks(fh: BinaryIO, start: int, end: int | None) -> Iterator[bytes]:
    with fh:
        fh.seek(start)
        remaining = None if end is None else end - start
        while remaining is None or remaining > 0:
            block = fh.read(READ_CHUNK if remaining is None else min(READ_CHUNK, remaining))
            if not block:
                return
            if remaining is not None:
                remaining -= len(block)
            yield block

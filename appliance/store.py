"""ChunkStore: a byte-bounded, crash-safe mapping of chunk keys to files on the local disk.

Layout under ``data_dir``: ``chunks/{cache key}`` holds complete, verified chunks and nothing
else; ``tmp/`` holds writes in progress. A chunk becomes visible only by ``rename`` after an
``fsync``, so a crash never leaves a servable partial chunk, and anything left in ``tmp/`` at
start-up is debris and is deleted. The in-memory index (key -> size, last access) is rebuilt
from ``chunks/`` at start-up. The store hands out paths and sizes, never chunk bytes.

All public methods are safe across threads and tasks (one lock guards the index); the slow
parts of a write (data, fsync) happen outside the lock.
"""

from __future__ import annotations

import logging
import math
import os
import stat
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from streamfleet.addressing import AddressError, ChunkKey, parse_key

from .errors import ChunkTooLarge, NotStored, StoreError
from .policy import EvictionPolicy, LRUPolicy, PinnablePolicy

log = logging.getLogger(__name__)

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class StoredChunk:
    """A chunk on disk, valid at the time it was looked up. ``stat`` is the file's fresh stat."""

    key: ChunkKey
    fspath: str
    size: int
    stat: os.stat_result
    # The verified sha256 of the file; None until checked (chunks found on disk at start-up).
    sha256: str | None = None

    @property
    def path(self) -> Path:
        return Path(self.fspath)


@dataclass
class StoreStats:
    """Cumulative counters of one store since it was opened."""

    # Chunks removed to keep used bytes under capacity, and their bytes.
    evictions: int = 0
    evicted_bytes: int = 0
    # Chunks dropped from the index because their file vanished or changed size behind our back.
    dropped: int = 0
    # Verified chunks whose file changed identity (inode, mtime or ctime) behind our back: they
    # are hashed again before they are served.
    changed: int = 0
    # Chunks made servable by a writer.
    commits: int = 0
    # Chunks whose bytes failed verification on read (dropped, to be fetched again).
    corrupt: int = 0
    # Times the filesystem had less room than capacity_bytes allowed (the capacity was lowered).
    disk_full: int = 0
    # Chunks and bytes the scrubber read back and checked.
    scrubbed_chunks: int = 0
    scrubbed_bytes: int = 0
    # Disk operations that failed (create, write, fsync, rename); a rising count means a bad disk.
    disk_errors: int = 0
    # time.monotonic() of the last disk error (0.0: none yet).
    last_disk_error: float = 0.0


@dataclass(slots=True)
class _Entry:
    size: int
    last_access: float
    # The file's path as a string (built once: Path objects are slow on the hot path).
    fspath: str
    # Requests currently serving this chunk; pinned chunks are never evicted.
    pins: int = 0
    # Known-good sha256 (set by the writer that verified it, or by a read-back check).
    sha256: str | None = None
    # (inode, mtime_ns, ctime_ns) of the file when last seen; any write to the file, or a new
    # file in its place, changes it even when the size stays the same.
    ident: tuple[int, int, int] | None = None
    # monotonic() until which a just-written chunk is not evicted: the requests that waited for
    # its fill must get to pin it first (else a busy, full store evicts it in between).
    fresh_until: float = 0.0


class ChunkStore:
    """Byte-bounded chunk files under ``data_dir``; eviction order comes from ``policy`` (LRU)."""

    def __init__(
        self,
        data_dir: Path,
        capacity_bytes: int,
        policy: EvictionPolicy | None = None,
        clock: Clock = time.time,
        monotonic: Clock = time.monotonic,
        fresh_s: float = 0.0,
    ) -> None:
        """``fresh_s``: a chunk just written is not evicted for this long (0: it may be at once),
        so the requests that waited for its fill can pin it before a busy, full store evicts it;
        the store may then be over capacity by that much fill traffic until :meth:`trim`."""
        if capacity_bytes <= 0:
            raise ValueError("capacity_bytes must be positive")
        self._fresh_s = fresh_s
        self.chunks_dir = data_dir / "chunks"
        self._root = str(self.chunks_dir) + os.sep
        self.tmp_dir = data_dir / "tmp"
        self.capacity_bytes = capacity_bytes
        self.stats = StoreStats()
        self._policy: EvictionPolicy = policy if policy is not None else LRUPolicy()
        # The same policy when it can set pinned keys aside (fill pins then cost nothing to skip).
        self._pinnable = self._policy if isinstance(self._policy, PinnablePolicy) else None
        # Titles whose chunks the fill manifest pins (never evicted), and their bytes on disk.
        self._fill_titles: frozenset[str] = frozenset()
        self._fill_bytes = 0
        self._clock = clock
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._entries: dict[ChunkKey, _Entry] = {}
        self._titles: Counter[str] = Counter()
        self._used = 0

    # -- start-up -------------------------------------------------------------------------

    def open(self) -> None:
        """Create the directories, delete stray temp files and rebuild the index from disk.

        Blocking (walks the whole store): call it from a worker thread. Raises StoreError when
        the directories cannot be created.
        """
        try:
            self.chunks_dir.mkdir(parents=True, exist_ok=True)
            self.tmp_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create store directories under {self.chunks_dir.parent}: {exc}"
            ) from exc
        stray = 0
        for entry in os.scandir(self.tmp_dir):
            try:
                os.unlink(entry.path)
                stray += 1
            except OSError as exc:
                log.warning("cannot delete stray temp file", extra={"path": entry.path, "error": str(exc)})
        found = sorted(self._scan(), key=lambda item: item[2])
        with self._lock:
            self._entries.clear()
            self._titles.clear()
            self._used = 0
            for key, size, last_access, ident in found:
                self._add_locked(key, size, last_access, ident=ident)
            self._evict_locked(protect=None)
        log.info(
            "chunk store opened",
            extra={"chunks": len(found), "used_bytes": self._used, "stray_temp_files": stray},
        )

    def _scan(self) -> Iterator[tuple[ChunkKey, int, float, tuple[int, int, int]]]:
        """Every chunk file under ``chunks/`` as (key, size, last use).

        The layout is at most three levels deep (title/rendition/file), so a bounded scandir
        walk replaces os.walk; DirEntry.stat() is the one syscall per file.
        """
        root = str(self.chunks_dir)
        for title in _subdirs(root):
            title_path = os.path.join(root, title.name)
            for entry in _entries(title_path):
                if entry.is_dir(follow_symlinks=False):
                    for leaf in _entries(entry.path):
                        yield from self._chunk(f"{title.name}/{entry.name}/{leaf.name}", leaf)
                else:
                    yield from self._chunk(f"{title.name}/{entry.name}", entry)

    def _chunk(
        self, rel: str, entry: os.DirEntry[str]
    ) -> Iterator[tuple[ChunkKey, int, float, tuple[int, int, int]]]:
        try:
            key = parse_key(rel)
            st = entry.stat(follow_symlinks=False)
        except (AddressError, OSError):
            log.warning("ignoring a file that is not a chunk", extra={"path": entry.path})
            return
        if key.relative_path != rel or not stat.S_ISREG(st.st_mode):
            log.warning("ignoring a file that is not a chunk", extra={"path": entry.path})
            return
        # atime (relatime: coarse) or mtime, whichever is later, approximates last use.
        yield key, st.st_size, max(st.st_atime, st.st_mtime), _ident(st)

    # -- reading --------------------------------------------------------------------------

    @property
    def used_bytes(self) -> int:
        return self._used

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def titles(self) -> list[str]:
        """Sorted ids of the titles of which at least one chunk is held."""
        with self._lock:
            return sorted(self._titles)

    def path_of(self, key: ChunkKey) -> Path:
        return self.chunks_dir / key.relative_path

    def verified_keys(self) -> list[ChunkKey]:
        """A snapshot of the keys whose sha256 is known (what the scrubber re-reads)."""
        with self._lock:
            return [key for key, entry in self._entries.items() if entry.sha256 is not None]

    def pin(self, key: ChunkKey, *, touch: bool = True) -> StoredChunk:
        """Look ``key`` up, count a use and protect it from eviction until :meth:`unpin`.

        Returns the chunk's path, size and stat (one ``stat()`` call, cheap enough for the
        event loop). Raises NotStored on a miss, including a file that vanished or changed
        size (that chunk is dropped from the index). A file whose identity (inode, mtime,
        ctime) changed since it was verified comes back with ``sha256=None``: it was written
        to behind our back and must be hashed again (:meth:`mark_verified`) before it is trusted.
        """
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                raise NotStored(key.cache_key)
            path = entry.fspath
            try:
                st = os.stat(path)
            except OSError:
                st = None
            if st is None or not stat.S_ISREG(st.st_mode) or st.st_size != entry.size:
                log.warning("dropping a chunk whose file went bad", extra={"key": key.cache_key})
                self.stats.dropped += 1
                self._remove_locked(key)
                if st is not None:
                    self._unlink(Path(path))
                raise NotStored(key.cache_key)
            ident = _ident(st)
            if ident != entry.ident:
                if entry.sha256 is not None:
                    log.warning("chunk file changed on disk; verifying again", extra={"key": key.cache_key})
                    self.stats.changed += 1
                entry.sha256 = None
                entry.ident = ident
            entry.pins += 1
            if touch:  # touch=False: a look that is not a use (the scrubber), LRU order unchanged
                entry.last_access = self._clock()
                self._policy.touch(key)
            return StoredChunk(key, path, entry.size, st, entry.sha256)

    def mark_verified(self, key: ChunkKey, sha256: str, st: os.stat_result | None = None) -> None:
        """Record that the file of ``key`` was read back and hashes to ``sha256``.

        ``st``: the stat the caller took before reading (the one :meth:`pin` returned); the mark
        is ignored when the file has changed identity since, so a later write is not trusted.
        """
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and (st is None or _ident(st) == entry.ident):
                entry.sha256 = sha256

    def drop_corrupt(self, key: ChunkKey) -> None:
        """Forget ``key`` and delete its file: its bytes failed verification. Pins are ignored
        (requests already sending it keep their open file; the next request refetches)."""
        with self._lock:
            if key not in self._entries:
                return
            self._remove_locked(key)
            self.stats.corrupt += 1
            self._unlink(self.path_of(key))
        log.warning("dropped a corrupt chunk", extra={"key": key.cache_key})

    def record_disk_error(self) -> None:
        """Count a failed disk operation (here or seen outside the store, e.g. a read)."""
        self.stats.disk_errors += 1
        self.stats.last_disk_error = self._monotonic()

    @property
    def fill_pinned_bytes(self) -> int:
        """Bytes on disk of the chunks :meth:`pin_titles` pins."""
        return self._fill_bytes

    def fill_pinned(self, key: ChunkKey) -> bool:
        """True when ``key`` belongs to a title the fill manifest pins (stored or not)."""
        return key.title in self._fill_titles

    def pin_titles(self, titles: Iterable[str]) -> None:
        """Pin every chunk of ``titles``, held now or stored later, until the next call: eviction
        never picks them (the fill manifest's titles). Chunks of titles no longer listed become
        ordinary cache again, evicted at once if the store is over capacity. O(chunks held)."""
        new = frozenset(titles)
        with self._lock:
            old, self._fill_titles = self._fill_titles, new
            fill_bytes = 0
            for key, entry in self._entries.items():
                was, now = key.title in old, key.title in new
                fill_bytes += entry.size if now else 0
                if self._pinnable is not None and was != now:
                    if now:
                        self._pinnable.pin(key)
                    else:
                        self._pinnable.unpin(key)
            self._fill_bytes = fill_bytes
            if self._used > self.capacity_bytes:
                self._evict_locked(protect=None)

    def trim(self) -> None:
        """Evict down to the capacity if the store is over it (chunks just written are kept from
        eviction for ``fresh_s``, so a burst of fills can overshoot briefly); call it now and then."""
        with self._lock:
            if self._used > self.capacity_bytes:
                self._evict_locked(protect=None)

    def unpin(self, key: ChunkKey) -> None:
        """Release one :meth:`pin`; evicts if the store went over capacity meanwhile."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.pins > 0:
                entry.pins -= 1
            if self._used > self.capacity_bytes:
                self._evict_locked(protect=None)

    # -- writing --------------------------------------------------------------------------

    def writer(self, key: ChunkKey, expected_size: int = 0) -> ChunkWriter:
        """A new temp file for ``key``; :meth:`ChunkWriter.commit` makes it servable.

        ``expected_size`` (0: unknown): room is made on the filesystem first (:meth:`make_room`).
        Blocking (creates a file). Raises StoreError when the file cannot be created.
        """
        if expected_size > 0:
            self.make_room(expected_size)
        path = self.tmp_dir / f"{uuid.uuid4().hex}.part"
        try:
            fh = open(path, "xb")  # the writer owns and closes it
        except OSError as exc:
            self.record_disk_error()
            raise StoreError(f"cannot create a temp file in {self.tmp_dir}: {exc}") from exc
        return ChunkWriter(self, key, path, fh)

    def make_room(self, size: int) -> None:
        """Make sure the filesystem can take ``size`` more bytes, evicting if it cannot.

        ``capacity_bytes`` is what the operator allows; the disk may hold less (other files on
        it, a smaller disk than configured). When the free space would not take ``size`` bytes
        plus a small margin, the store lowers its capacity to what fits and evicts down to it,
        so the disk filling up costs cached chunks, not failed requests. The lowered capacity
        stays until restart (logged as an error). Blocking (one statvfs; evictions unlink).
        """
        try:
            st = os.statvfs(self.tmp_dir)
        except OSError:
            return
        short = size + _DISK_MARGIN - st.f_bavail * st.f_frsize
        if short <= 0:
            return
        with self._lock:
            target = max(self._used - short, 1)
            if target < self.capacity_bytes:
                log.error(
                    "the disk is fuller than capacity_bytes allows; lowering the capacity to what fits",
                    extra={"capacity_bytes": self.capacity_bytes, "lowered_to": target, "used": self._used},
                )
                self.capacity_bytes = target
                self.stats.disk_full += 1
            # Chunks just filled go too if need be: their waiters refetch, a write would fail.
            self._evict_locked(protect=None, fresh_too=True)

    def _install(self, key: ChunkKey, temp: Path, size: int, sha256: str | None) -> StoredChunk:
        """Rename a complete, fsynced temp file into place and account for it (under the lock)."""
        if size > self.capacity_bytes:
            raise ChunkTooLarge(f"{key.cache_key} is {size} bytes, capacity is {self.capacity_bytes}")
        final = self.path_of(key)
        with self._lock:
            try:
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(temp, final)
                st = os.stat(final)
            except OSError as exc:
                self.record_disk_error()
                raise StoreError(f"cannot install {key.cache_key}: {exc}") from exc
            old = self._entries.get(key)
            if old is not None:  # keys are immutable: a re-fill of the same key replaces in place
                self._used -= old.size
                old.size = size
                old.last_access = self._clock()
                old.sha256 = sha256
                old.ident = _ident(st)
                old.fresh_until = self._monotonic() + self._fresh_s
                self._used += size
                self._policy.insert(key, size)
            else:
                self._add_locked(key, size, self._clock(), sha256, _ident(st))
                self._entries[key].fresh_until = self._monotonic() + self._fresh_s
            self.stats.commits += 1
            self._evict_locked(protect=key)
        _fsync_dir(final.parent)
        return StoredChunk(key, str(final), size, st, sha256)

    def check_writable(self) -> bool:
        """True when a small file can be written in the temp directory. Blocking (a few syscalls)."""
        try:
            probe = self.tmp_dir / f"probe-{uuid.uuid4().hex}.part"
            with open(probe, "xb") as fh:
                fh.write(b"ok")
            probe.unlink()
            return True
        except OSError:
            return False

    # -- index internals (call with the lock held) ----------------------------------------

    def _add_locked(
        self,
        key: ChunkKey,
        size: int,
        last_access: float,
        sha256: str | None = None,
        ident: tuple[int, int, int] | None = None,
    ) -> None:
        fspath = self._root + key.relative_path
        self._entries[key] = _Entry(size, last_access, fspath, sha256=sha256, ident=ident)
        self._titles[key.title] += 1
        self._used += size
        self._policy.insert(key, size)
        if key.title in self._fill_titles:
            self._fill_bytes += size
            if self._pinnable is not None:
                self._pinnable.pin(key)

    def _remove_locked(self, key: ChunkKey) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        self._used -= entry.size
        self._titles[key.title] -= 1
        if self._titles[key.title] <= 0:
            del self._titles[key.title]
        if key.title in self._fill_titles:
            self._fill_bytes -= entry.size
        self._policy.remove(key)

    def _evict_locked(self, protect: ChunkKey | None, fresh_too: bool = False) -> None:
        """Evict until used bytes fit the capacity; pinned chunks (and ``protect``) are skipped.

        When only pinned chunks remain the store stays over capacity until they are unpinned.
        """
        now = math.inf if fresh_too else self._monotonic()  # at infinity nothing is fresh
        pinned = _Pinned(self._entries, protect, self._fill_titles, now)
        while self._used > self.capacity_bytes:
            key = self._policy.victim(pinned)
            if key is None:
                log.warning(
                    "store over capacity: every remaining chunk is in use", extra={"used": self._used}
                )
                return
            size = self._entries[key].size
            self._remove_locked(key)
            self._unlink(self.path_of(key))
            self.stats.evictions += 1
            self.stats.evicted_bytes += size

    def _unlink(self, path: Path) -> None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("cannot delete chunk file", extra={"path": str(path), "error": str(exc)})
            return
        # Drop empty rendition/title directories so a long-running store does not pile them up.
        parent = path.parent
        while parent != self.chunks_dir and self.chunks_dir in parent.parents:
            try:
                parent.rmdir()
            except OSError:
                return
            parent = parent.parent


class _Pinned:
    """The keys eviction must skip: chunks being served, plus the one just written."""

    def __init__(
        self,
        entries: dict[ChunkKey, _Entry],
        protect: ChunkKey | None,
        titles: frozenset[str] = frozenset(),
        now: float = 0.0,
    ) -> None:
        self._entries = entries
        self._protect = protect
        self._titles = titles
        self._now = now

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, ChunkKey):
            return False
        if key == self._protect:
            return True
        entry = self._entries.get(key)
        return entry is not None and (
            entry.pins > 0 or key.title in self._titles or entry.fresh_until > self._now
        )


class ChunkWriter:
    """One chunk being written to a temp file. Used by one task at a time; blocking calls.

    Use as a context manager: leaving it without :meth:`commit` deletes the temp file.
    """

    def __init__(self, store: ChunkStore, key: ChunkKey, path: Path, fh: BinaryIO) -> None:
        self.key = key
        self.path = path
        self.size = 0
        self._store = store
        self._fh: BinaryIO | None = fh
        self._done = False

    def __enter__(self) -> ChunkWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()

    def write(self, data: bytes) -> None:
        """Append ``data``. Raises StoreError on a disk error."""
        if self._fh is None:
            raise StoreError("writer is closed")
        try:
            self._fh.write(data)
        except OSError as exc:
            self._store.record_disk_error()
            raise StoreError(f"cannot write {self.key.cache_key}: {exc}") from exc
        self.size += len(data)

    def write_flush(self, data: bytes) -> None:
        """Append ``data`` and flush it to the file, so readers of the temp file see it."""
        self.write(data)
        try:
            assert self._fh is not None
            self._fh.flush()
        except OSError as exc:
            self._store.record_disk_error()
            raise StoreError(f"cannot write {self.key.cache_key}: {exc}") from exc

    def commit(self, sha256: str | None = None) -> StoredChunk:
        """fsync, close and rename into place; the chunk is servable when this returns.

        ``sha256`` is the digest the caller verified the bytes against (None: not verified,
        the chunk is then checked on its first hit).

        Raises StoreError (ChunkTooLarge) and then leaves nothing behind.
        """
        if self._fh is None:
            raise StoreError("writer is closed")
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None
            stored = self._store._install(self.key, self.path, self.size, sha256)
        except OSError as exc:
            self._store.record_disk_error()
            self.discard()
            raise StoreError(f"cannot commit {self.key.cache_key}: {exc}") from exc
        except StoreError:
            self.discard()
            raise
        self._done = True
        return stored

    def discard(self) -> None:
        """Close and delete the temp file unless committed; idempotent."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if not self._done:
            self._done = True
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass


# Free space kept on the filesystem beyond the chunk being written (temp files, directories).
_DISK_MARGIN = 64 * 1024


def _ident(st: os.stat_result) -> tuple[int, int, int]:
    """What changes when a file is written to or replaced, whatever its size."""
    return (st.st_ino, st.st_mtime_ns, st.st_ctime_ns)


def _entries(path: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as it:
            return list(it)
    except OSError as exc:
        log.warning("cannot list a store directory", extra={"path": path, "error": str(exc)})
        return []


def _subdirs(path: str) -> list[os.DirEntry[str]]:
    out = []
    for entry in _entries(path):
        if entry.is_dir(follow_symlinks=False):
            out.append(entry)
        else:
            log.warning("ignoring a file that is not a chunk", extra={"path": entry.path})
    return out


def _fsync_dir(path: Path) -> None:
    """Persist a rename: fsync the directory entry (best effort; not all filesystems allow it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

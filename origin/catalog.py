"""SQLite catalog of titles, their renditions and the size + checksum of every file.

One database file in WAL mode: the server reads while an ingest in another process writes, and
readers never block on that writer. The schema is created or migrated when the catalog opens.
A title is first *reserved* (status "ingesting", which also claims its id) and then *published*
(renditions, files and status "ready" in one transaction), so readers never see half a title.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import search
from .errors import CatalogError, TitleExists, TitleNotFound

INGESTING = "ingesting"
READY = "ready"
# Upload accepted, waiting for / going through the chunked pipeline; or given up on.
QUEUED = "queued"
PROCESSING = "processing"
FAILED = "failed"

# Each entry migrates the schema from version i to i + 1; never edit a released entry.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE titles (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            status TEXT NOT NULL,
            duration_s REAL NOT NULL DEFAULT 0,
            created REAL NOT NULL)""",
        """CREATE TABLE renditions (
            title TEXT NOT NULL REFERENCES titles(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            bandwidth INTEGER NOT NULL,
            PRIMARY KEY (title, name))""",
        """CREATE TABLE files (
            title TEXT NOT NULL REFERENCES titles(id) ON DELETE CASCADE,
            cache_key TEXT NOT NULL PRIMARY KEY,
            size INTEGER NOT NULL,
            sha256 TEXT NOT NULL)""",
        "CREATE INDEX files_by_title ON files(title)",
    ),
    (
        "ALTER TABLE titles ADD COLUMN description TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE titles ADD COLUMN tags TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE titles ADD COLUMN cast_members TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE titles ADD COLUMN release_date TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE titles ADD COLUMN plays INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE titles ADD COLUMN owner TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE titles ADD COLUMN error TEXT NOT NULL DEFAULT ''",
        """CREATE TABLE title_tags (
            title TEXT NOT NULL REFERENCES titles(id) ON DELETE CASCADE,
            tag TEXT NOT NULL,
            PRIMARY KEY (tag, title))""",
        "CREATE INDEX title_tags_by_title ON title_tags(title)",
        "CREATE INDEX titles_by_release ON titles(release_date DESC, created DESC)",
        "CREATE INDEX titles_by_plays ON titles(plays DESC)",
    ),
    search.MIGRATION,
)
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class Title:
    id: str
    name: str
    status: str
    duration_s: float
    # Unix time the title was reserved.
    created: float


@dataclass(frozen=True)
class TitleMeta:
    """What a creator says about a title (searchable), plus its play count."""

    description: str = ""
    tags: tuple[str, ...] = ()
    cast: tuple[str, ...] = ()
    # ISO date ("2024-05-01"); empty when unknown.
    release_date: str = ""
    plays: int = 0
    # Account id of the uploader; empty for titles ingested from the command line.
    owner: str = ""
    # Why processing failed (status "failed"); empty otherwise.
    error: str = ""


def _join(items: tuple[str, ...]) -> str:
    # Newline-separated: tags and names may contain commas but never newlines.
    return "\n".join(items)


def _split(text: str) -> tuple[str, ...]:
    return tuple(t for t in text.split("\n") if t)


@dataclass(frozen=True)
class Rendition:
    name: str
    width: int
    height: int
    # Peak bits per second, as announced in the master playlist.
    bandwidth: int


@dataclass(frozen=True)
class FileInfo:
    cache_key: str
    size: int
    sha256: str


@dataclass(frozen=True)
class TitleDetail:
    title: Title
    renditions: tuple[Rendition, ...]
    files: Mapping[str, FileInfo]


class Catalog:
    """The catalog database. Safe across threads (one connection behind a lock) and processes."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE) so writers queue up front.
        self._conn = sqlite3.connect(path, timeout=10.0, isolation_level=None, check_same_thread=False)
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except BaseException:
            self._conn.close()
            raise

    def _migrate(self) -> None:
        with self._write() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
            current = int(row[0] or 0)
            if current > SCHEMA_VERSION:
                raise CatalogError(
                    f"catalog {self.path} has schema version {current}, newer than this origin's "
                    f"{SCHEMA_VERSION}"
                )
            for version in range(current, SCHEMA_VERSION):
                for statement in MIGRATIONS[version]:
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version + 1,))

    def schema_version(self) -> int:
        with self._lock:
            row = self._conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
        return int(row[0])

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; BEGIN IMMEDIATE takes the database write lock up front."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------
    def reserve_title(self, title_id: str, name: str, status: str = INGESTING,
                      meta: TitleMeta | None = None) -> Title:
        """Claim ``title_id`` with ``status`` (not yet served). Raises TitleExists if it is taken."""
        created = self._clock()
        m = meta or TitleMeta()
        try:
            with self._write() as conn:
                conn.execute(
                    "INSERT INTO titles (id, name, status, duration_s, created, description, tags, "
                    "cast_members, release_date, owner) VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?, ?)",
                    (title_id, name, status, created, m.description, _join(m.tags), _join(m.cast),
                     m.release_date, m.owner),
                )
                conn.executemany("INSERT OR IGNORE INTO title_tags (title, tag) VALUES (?, ?)",
                                 [(title_id, t) for t in m.tags])
                search.index_terms(conn, [name, *m.tags, *m.cast])
        except sqlite3.IntegrityError:
            existing = self.get_title(title_id)
            raise TitleExists(f"title {title_id!r} already exists (status {existing.status})") from None
        return Title(title_id, name, status, 0.0, created)

    def set_status(self, title_id: str, status: str, error: str = "") -> None:
        """Move a title that is not ready to ``status`` (e.g. processing, failed). Raises TitleNotFound."""
        with self._write() as conn:
            cursor = conn.execute("UPDATE titles SET status = ?, error = ? WHERE id = ? AND status != ?",
                                  (status, error, title_id, READY))
            if cursor.rowcount == 0:
                raise TitleNotFound(title_id)

    def meta(self, title_id: str) -> TitleMeta:
        """The title's metadata. Raises TitleNotFound."""
        rows = self._rows("SELECT description, tags, cast_members, release_date, plays, owner, error "
                          "FROM titles WHERE id = ?", (title_id,))
        if not rows:
            raise TitleNotFound(title_id)
        d, tags, cast, release, plays, owner, error = rows[0]
        return TitleMeta(str(d), _split(tags), _split(cast), str(release), int(plays), str(owner), str(error))

    def update_meta(self, title_id: str, name: str | None = None, description: str | None = None,
                    tags: tuple[str, ...] | None = None, cast: tuple[str, ...] | None = None,
                    release_date: str | None = None) -> None:
        """Change the given fields (None keeps one). Raises TitleNotFound."""
        sets: list[str] = []
        args: list[object] = []
        for column, value in (("name", name), ("description", description), ("release_date", release_date),
                              ("tags", None if tags is None else _join(tags)),
                              ("cast_members", None if cast is None else _join(cast))):
            if value is not None:
                sets.append(f"{column} = ?")
                args.append(value)
        with self._write() as conn:
            if not conn.execute("SELECT 1 FROM titles WHERE id = ?", (title_id,)).fetchone():
                raise TitleNotFound(title_id)
            if sets:
                conn.execute(f"UPDATE titles SET {', '.join(sets)} WHERE id = ?", (*args, title_id))
            if tags is not None:
                conn.execute("DELETE FROM title_tags WHERE title = ?", (title_id,))
                conn.executemany("INSERT OR IGNORE INTO title_tags (title, tag) VALUES (?, ?)",
                                 [(title_id, t) for t in tags])
            search.index_terms(conn, [name or "", *(tags or ()), *(cast or ())])

    def count_play(self, title_id: str, plays: int = 1) -> None:
        """Add to the title's play counter (the "popular" order). Raises TitleNotFound."""
        with self._write() as conn:
            cursor = conn.execute("UPDATE titles SET plays = plays + ? WHERE id = ?", (plays, title_id))
            if cursor.rowcount == 0:
                raise TitleNotFound(title_id)

    def publish_title(self, title_id: str, duration_s: float, renditions: Iterable[Rendition],
                      files: Iterable[FileInfo]) -> Title:
        """Record renditions and files and mark the reserved title "ready", all in one transaction.

        Raises TitleNotFound if the title was not reserved, TitleExists if it is already ready.
        """
        with self._write() as conn:
            row = conn.execute("SELECT status FROM titles WHERE id = ?", (title_id,)).fetchone()
            if row is None:
                raise TitleNotFound(title_id)
            if row[0] == READY:
                raise TitleExists(f"title {title_id!r} is already {row[0]}")
            conn.executemany(
                "INSERT INTO renditions (title, name, width, height, bandwidth) VALUES (?, ?, ?, ?, ?)",
                [(title_id, r.name, r.width, r.height, r.bandwidth) for r in renditions],
            )
            conn.executemany(
                "INSERT INTO files (title, cache_key, size, sha256) VALUES (?, ?, ?, ?)",
                [(title_id, f.cache_key, f.size, f.sha256) for f in files],
            )
            conn.execute("UPDATE titles SET status = ?, duration_s = ? WHERE id = ?",
                         (READY, duration_s, title_id))
        return self.get_title(title_id)

    def delete_title(self, title_id: str) -> bool:
        """Remove a title with its renditions and files; returns False when it was not there."""
        with self._write() as conn:
            conn.execute("DELETE FROM title_tags WHERE title = ?", (title_id,))
            conn.execute("DELETE FROM files WHERE title = ?", (title_id,))
            conn.execute("DELETE FROM renditions WHERE title = ?", (title_id,))
            cursor = conn.execute("DELETE FROM titles WHERE id = ?", (title_id,))
            return cursor.rowcount > 0

    # -- reading ---------------------------------------------------------------------------
    def _rows(self, sql: str, args: tuple[object, ...] = ()) -> list[Any]:
        with self._lock:
            return list(self._conn.execute(sql, args).fetchall())

    @staticmethod
    def _title(row: Any) -> Title:
        tid, name, status, duration, created = row
        return Title(str(tid), str(name), str(status), float(duration), float(created))

    def get_title(self, title_id: str) -> Title:
        """The title ``title_id``. Raises TitleNotFound."""
        rows = self._rows("SELECT id, name, status, duration_s, created FROM titles WHERE id = ?",
                          (title_id,))
        if not rows:
            raise TitleNotFound(title_id)
        return self._title(rows[0])

    def list_titles(self) -> list[Title]:
        """Every title, oldest first."""
        rows = self._rows("SELECT id, name, status, duration_s, created FROM titles ORDER BY created, id")
        return [self._title(r) for r in rows]

    def ranked_titles(self, sort: str, limit: int = 50, tag: str | None = None) -> list[Title]:
        """Ready titles: ``sort`` "new" (release date, then added) or "popular" (play count).
        Raises ValueError for another ``sort``."""
        order = {"new": "t.release_date DESC, t.created DESC", "popular": "t.plays DESC, t.created DESC"}
        if sort not in order:
            raise ValueError(f"unknown sort {sort!r}")
        where, args = "t.status = ?", [READY]
        if tag:
            where += " AND t.id IN (SELECT title FROM title_tags WHERE tag = ?)"
            args.append(tag.lower())
        rows = self._rows(f"SELECT t.id, t.name, t.status, t.duration_s, t.created FROM titles AS t "
                          f"WHERE {where} ORDER BY {order[sort]} LIMIT ?", (*args, limit))
        return [self._title(r) for r in rows]

    def search(self, query: str, tag: str | None = None, limit: int = 20) -> search.SearchResult:
        """Ready titles matching ``query`` (see origin.search.search)."""
        return search.search(self._read, query, tag, limit)

    def _read(self, sql: str, args: Sequence[object]) -> list[Any]:
        return self._rows(sql, tuple(args))

    def renditions(self, title_id: str) -> list[Rendition]:
        """Renditions of a title, tallest first (empty while it is being ingested)."""
        rows = self._rows(
            "SELECT name, width, height, bandwidth FROM renditions WHERE title = ? ORDER BY height DESC",
            (title_id,),
        )
        return [Rendition(str(n), int(w), int(h), int(b)) for n, w, h, b in rows]

    def files(self, title_id: str) -> dict[str, FileInfo]:
        """Every file of a title by cache key (empty while it is being ingested)."""
        rows = self._rows("SELECT cache_key, size, sha256 FROM files WHERE title = ? ORDER BY cache_key",
                          (title_id,))
        return {str(k): FileInfo(str(k), int(s), str(h)) for k, s, h in rows}

    def detail(self, title_id: str) -> TitleDetail:
        """Title, renditions and files read in one snapshot. Raises TitleNotFound."""
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN")
            try:
                row = conn.execute("SELECT id, name, status, duration_s, created FROM titles WHERE id = ?",
                                   (title_id,)).fetchone()
                rend = conn.execute("SELECT name, width, height, bandwidth FROM renditions WHERE title = ? "
                                    "ORDER BY height DESC", (title_id,)).fetchall()
                files = conn.execute("SELECT cache_key, size, sha256 FROM files WHERE title = ? "
                                     "ORDER BY cache_key", (title_id,)).fetchall()
            finally:
                conn.execute("COMMIT")
        if row is None:
            raise TitleNotFound(title_id)
        return TitleDetail(
            self._title(row),
            tuple(Rendition(str(n), int(w), int(h), int(b)) for n, w, h, b in rend),
            {str(k): FileInfo(str(k), int(s), str(h)) for k, s, h in files},
        )

    def ping(self) -> None:
        """Raise sqlite3.Error if the database cannot be read (for health checks)."""
        self._rows("SELECT 1 FROM schema_version LIMIT 1")

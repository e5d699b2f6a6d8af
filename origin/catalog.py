"""The catalog of titles, their renditions and the size + checksum of every file (SQL: SQLite or PostgreSQL).

On SQLite one database file in WAL mode: the server reads while an ingest in another process
writes, and readers never block on that writer; on PostgreSQL any number of origin processes share
it. The schema is migrated (Alembic branch "catalog") when the catalog opens. A title is first
*reserved* (status "ingesting", which also claims its id) and then *published* (renditions, files
and status "ready" in one transaction), so readers never see half a title.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from . import search
from .db import Database, table_exists
from .errors import CatalogError, TitleExists, TitleNotFound
from .search_sql import search_index

INGESTING = "ingesting"
READY = "ready"
# Upload accepted, waiting for / going through the chunked pipeline; or given up on.
QUEUED = "queued"
PROCESSING = "processing"
FAILED = "failed"

# The Alembic head of the "catalog" branch this code writes.
SCHEMA_REVISION = "catalog_0003"
# Schema versions of catalogs made before Alembic (their schema_version table) -> revision.
_LEGACY = {1: "catalog_0001", 2: "catalog_0002", 3: "catalog_0003"}


def _legacy_revision(conn: Connection) -> str | None:
    if not (table_exists(conn, "schema_version") and table_exists(conn, "titles")):
        return None
    version = int(conn.execute(sa.text("SELECT MAX(version) FROM schema_version")).scalar() or 0)
    if version not in _LEGACY:
        raise CatalogError(f"catalog has schema version {version}, newer than this origin's {len(_LEGACY)}")
    return _LEGACY[version]


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
    """The catalog database. Safe across threads and processes.

    ``target`` is a SQLite file (Path), a database URL, or an open :class:`Database` (shared with
    other stores; the caller closes it then).
    """

    def __init__(self, target: Path | str | Database, clock: Callable[[], float] = time.time) -> None:
        self._owned = not isinstance(target, Database)
        self._db = target if isinstance(target, Database) else Database(target)
        self._clock = clock
        try:
            self._db.upgrade("catalog@head", _legacy_revision)
            with self._db.read() as conn:
                self._index = search_index(conn)
        except BaseException:
            self.close()
            raise

    @property
    def database(self) -> Database:
        return self._db

    def schema_revision(self) -> str:
        """The catalog's Alembic revision (SCHEMA_REVISION once migrated)."""
        rows = self._db.rows("SELECT version_num FROM alembic_version_origin "
                             "WHERE version_num LIKE 'catalog_%'")
        return str(rows[0][0])

    def close(self) -> None:
        if self._owned:
            self._db.close()

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
            with self._db.write() as conn:
                conn.execute(sa.text(
                    "INSERT INTO titles (id, name, status, duration_s, created, description, tags, "
                    "cast_members, release_date, owner) VALUES (:id, :name, :status, 0, :created, "
                    ":description, :tags, :cast, :release, :owner)"),
                    {"id": title_id, "name": name, "status": status, "created": created,
                     "description": m.description, "tags": _join(m.tags), "cast": _join(m.cast),
                     "release": m.release_date, "owner": m.owner})
                _insert_tags(conn, title_id, m.tags)
                search.index_terms(conn, [name, *m.tags, *m.cast])
        except IntegrityError:
            existing = self.get_title(title_id)
            raise TitleExists(f"title {title_id!r} already exists (status {existing.status})") from None
        return Title(title_id, name, status, 0.0, created)

    def set_status(self, title_id: str, status: str, error: str = "") -> None:
        """Move a title that is not ready to ``status`` (e.g. processing, failed). Raises TitleNotFound."""
        with self._db.write() as conn:
            result = conn.execute(sa.text("UPDATE titles SET status = :status, error = :error "
                                          "WHERE id = :id AND status != :ready"),
                                  {"status": status, "error": error, "id": title_id, "ready": READY})
            if result.rowcount == 0:
                raise TitleNotFound(title_id)

    def meta(self, title_id: str) -> TitleMeta:
        """The title's metadata. Raises TitleNotFound."""
        rows = self._db.rows("SELECT description, tags, cast_members, release_date, plays, owner, error "
                             "FROM titles WHERE id = :id", {"id": title_id})
        if not rows:
            raise TitleNotFound(title_id)
        d, tags, cast, release, plays, owner, error = rows[0]
        return TitleMeta(str(d), _split(tags), _split(cast), str(release), int(plays), str(owner), str(error))

    def update_meta(self, title_id: str, name: str | None = None, description: str | None = None,
                    tags: tuple[str, ...] | None = None, cast: tuple[str, ...] | None = None,
                    release_date: str | None = None) -> None:
        """Change the given fields (None keeps one). Raises TitleNotFound."""
        values = {column: value for column, value in (
            ("name", name), ("description", description), ("release_date", release_date),
            ("tags", None if tags is None else _join(tags)),
            ("cast_members", None if cast is None else _join(cast))) if value is not None}
        with self._db.write() as conn:
            if not conn.execute(sa.text("SELECT 1 FROM titles WHERE id = :id"), {"id": title_id}).first():
                raise TitleNotFound(title_id)
            if values:
                sets = ", ".join(f"{column} = :{column}" for column in values)  # fixed column names only
                conn.execute(sa.text(f"UPDATE titles SET {sets} WHERE id = :title_id"),
                             {**values, "title_id": title_id})
            if tags is not None:
                conn.execute(sa.text("DELETE FROM title_tags WHERE title = :id"), {"id": title_id})
                _insert_tags(conn, title_id, tags)
            search.index_terms(conn, [name or "", *(tags or ()), *(cast or ())])

    def count_play(self, title_id: str, plays: int = 1) -> None:
        """Add to the title's play counter (the "popular" order). Raises TitleNotFound."""
        with self._db.write() as conn:
            result = conn.execute(sa.text("UPDATE titles SET plays = plays + :n WHERE id = :id"),
                                  {"n": plays, "id": title_id})
            if result.rowcount == 0:
                raise TitleNotFound(title_id)

    def publish_title(self, title_id: str, duration_s: float, renditions: Iterable[Rendition],
                      files: Iterable[FileInfo]) -> Title:
        """Record renditions and files and mark the reserved title "ready", all in one transaction.

        Raises TitleNotFound if the title was not reserved, TitleExists if it is already ready.
        """
        rendition_rows = [{"title": title_id, "name": r.name, "width": r.width, "height": r.height,
                           "bandwidth": r.bandwidth} for r in renditions]
        file_rows = [{"title": title_id, "key": f.cache_key, "size": f.size, "sha256": f.sha256}
                     for f in files]
        with self._db.write() as conn:
            # FOR UPDATE: two publishers of one title (PostgreSQL) queue here instead of both passing.
            row = conn.execute(sa.select(_titles.c.status).where(_titles.c.id == title_id).with_for_update()
                               ).first()
            if row is None:
                raise TitleNotFound(title_id)
            if row[0] == READY:
                raise TitleExists(f"title {title_id!r} is already {row[0]}")
            if rendition_rows:
                conn.execute(sa.text("INSERT INTO renditions (title, name, width, height, bandwidth) "
                                     "VALUES (:title, :name, :width, :height, :bandwidth)"), rendition_rows)
            if file_rows:
                conn.execute(sa.text("INSERT INTO files (title, cache_key, size, sha256) "
                                     "VALUES (:title, :key, :size, :sha256)"), file_rows)
            conn.execute(sa.text("UPDATE titles SET status = :ready, duration_s = :duration WHERE id = :id"),
                         {"ready": READY, "duration": duration_s, "id": title_id})
        return self.get_title(title_id)

    def delete_title(self, title_id: str) -> bool:
        """Remove a title with its renditions and files; returns False when it was not there."""
        with self._db.write() as conn:
            for table in ("title_tags", "files", "renditions"):
                conn.execute(sa.text(f"DELETE FROM {table} WHERE title = :id"), {"id": title_id})
            return conn.execute(sa.text("DELETE FROM titles WHERE id = :id"), {"id": title_id}).rowcount > 0

    # -- reading ---------------------------------------------------------------------------
    @staticmethod
    def _title(row: Any) -> Title:
        tid, name, status, duration, created = row
        return Title(str(tid), str(name), str(status), float(duration), float(created))

    def get_title(self, title_id: str) -> Title:
        """The title ``title_id``. Raises TitleNotFound."""
        rows = self._db.rows(f"SELECT {_TITLE_COLUMNS} FROM titles WHERE id = :id", {"id": title_id})
        if not rows:
            raise TitleNotFound(title_id)
        return self._title(rows[0])

    def list_titles(self) -> list[Title]:
        """Every title, oldest first."""
        rows = self._db.rows(f"SELECT {_TITLE_COLUMNS} FROM titles ORDER BY created, id")
        return [self._title(r) for r in rows]

    def ranked_titles(self, sort: str, limit: int = 50, tag: str | None = None) -> list[Title]:
        """Ready titles: ``sort`` "new" (release date, then added) or "popular" (play count).
        Raises ValueError for another ``sort``."""
        order = {"new": "t.release_date DESC, t.created DESC", "popular": "t.plays DESC, t.created DESC"}
        if sort not in order:
            raise ValueError(f"unknown sort {sort!r}")
        where = "t.status = :ready"
        if tag:
            where += " AND t.id IN (SELECT title FROM title_tags WHERE tag = :tag)"
        rows = self._db.rows(f"SELECT t.id, t.name, t.status, t.duration_s, t.created FROM titles AS t "
                             f"WHERE {where} ORDER BY {order[sort]} LIMIT :limit",
                             {"ready": READY, "tag": (tag or "").lower(), "limit": limit})
        return [self._title(r) for r in rows]

    def search(self, query: str, tag: str | None = None, limit: int = 20) -> search.SearchResult:
        """Ready titles matching ``query`` (see origin.search.search)."""
        with self._db.read() as conn:
            return search.search(self._index, conn, query, tag, limit)

    def renditions(self, title_id: str) -> list[Rendition]:
        """Renditions of a title, tallest first (empty while it is being ingested)."""
        with self._db.read() as conn:
            return _renditions(conn, title_id)

    def files(self, title_id: str) -> dict[str, FileInfo]:
        """Every file of a title by cache key (empty while it is being ingested)."""
        with self._db.read() as conn:
            return _files(conn, title_id)

    def detail(self, title_id: str) -> TitleDetail:
        """Title, renditions and files read in one snapshot. Raises TitleNotFound."""
        with self._db.read(snapshot=True) as conn:
            row = conn.execute(sa.text(f"SELECT {_TITLE_COLUMNS} FROM titles WHERE id = :id"),
                               {"id": title_id}).first()
            if row is None:
                raise TitleNotFound(title_id)
            return TitleDetail(self._title(row), tuple(_renditions(conn, title_id)), _files(conn, title_id))

    def ping(self) -> None:
        """Raise (a SQLAlchemy error) if the database cannot be read: for health checks."""
        self._db.rows("SELECT 1 FROM titles LIMIT 1")


_TITLE_COLUMNS = "id, name, status, duration_s, created"
_titles = sa.table("titles", sa.column("id"), sa.column("status"))


def _insert_tags(conn: Connection, title_id: str, tags: Iterable[str]) -> None:
    rows = [{"title": title_id, "tag": t} for t in dict.fromkeys(tags)]
    if rows:
        conn.execute(sa.text("INSERT INTO title_tags (title, tag) VALUES (:title, :tag) "
                             "ON CONFLICT DO NOTHING"), rows)


def _renditions(conn: Connection, title_id: str) -> list[Rendition]:
    rows = conn.execute(sa.text("SELECT name, width, height, bandwidth FROM renditions WHERE title = :id "
                                "ORDER BY height DESC"), {"id": title_id})
    return [Rendition(str(n), int(w), int(h), int(b)) for n, w, h, b in rows]


def _files(conn: Connection, title_id: str) -> dict[str, FileInfo]:
    rows = conn.execute(sa.text("SELECT cache_key, size, sha256 FROM files WHERE title = :id "
                                "ORDER BY cache_key"), {"id": title_id})
    return {str(k): FileInfo(str(k), int(s), str(h)) for k, s, h in rows}

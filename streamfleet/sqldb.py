"""The SQL seam of the services with central state: one SQLAlchemy Core engine on SQLite (the
default) or PostgreSQL, migrated by Alembic.

Each service passes its own :class:`Migrations` (script location, version table, lock key), so
the origin and the control plane may share one PostgreSQL database. Domain modules write portable
SQL (SQLite >= 3.35 and PostgreSQL share UPSERT, RETURNING and quoted identifiers) and never ask
which engine they run on; the few real differences (full-text search, ``FOR UPDATE SKIP LOCKED``,
DDL) live in the migrations, in the services' SQL modules and in SQLAlchemy's compiler. SQLite
runs in WAL mode with explicit ``BEGIN IMMEDIATE`` for writes, so writers queue up front instead
of failing on a lock upgrade.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)

T = TypeVar("T")
D = TypeVar("D", bound="Database")
# SQLSTATEs after which PostgreSQL asks the client to run the transaction again.
_RETRYABLE = {"40001", "40P01"}  # serialization_failure, deadlock_detected


class DatabaseError(Exception):
    """A database that cannot be used: unsupported URL, or a schema newer than this code."""


@dataclass(frozen=True, slots=True)
class Migrations:
    """Where a service's Alembic history lives and how it is recorded in the database."""

    # Alembic script location, e.g. "origin:migrations".
    script_location: str
    # The service's own version table, so several services can share one database.
    version_table: str
    # pg_advisory_xact_lock key: one migrating process at a time per service.
    lock_key: int

# Inspects a database that predates Alembic and names the revision its schema matches (None: new).
LegacyProbe = Callable[[Connection], str | None]


def database_url(target: str | Path) -> str:
    """A SQLAlchemy URL for ``target``: a Path is a SQLite file; ``postgresql://`` uses psycopg 3."""
    if isinstance(target, Path):
        return f"sqlite:///{target}"
    for scheme in ("postgresql://", "postgres://"):
        if target.startswith(scheme):
            return "postgresql+psycopg://" + target[len(scheme):]
    return target


def redacted(url: str) -> str:
    """``url`` with its password masked, for logs and error messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<unparseable database URL>"


def is_retryable(exc: BaseException) -> bool:
    """True for a deadlock or serialization failure that rerunning the transaction resolves."""
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) in _RETRYABLE


class Database:
    """An engine with a connection pool: safe across threads; SQLite's WAL and PostgreSQL's MVCC
    make it safe across processes. ``synchronous`` is SQLite's durability pragma."""

    def __init__(self, target: str | Path, migrations: Migrations, synchronous: str = "FULL") -> None:
        self.migrations = migrations
        self.url = database_url(target)
        url = make_url(self.url)
        self.dialect = url.get_backend_name()
        if self.dialect == "sqlite":
            if url.database and url.database != ":memory:":
                Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = sa.create_engine(url, connect_args={"timeout": 30.0})
            _sqlite_events(self.engine, synchronous)
        elif self.dialect == "postgresql":
            self.engine = sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
        else:
            raise DatabaseError(f"unsupported database {redacted(self.url)}: use sqlite:/// or postgresql://")

    def __repr__(self) -> str:
        return f"Database({redacted(self.url)!r})"

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction (SQLite: BEGIN IMMEDIATE); committed on success, rolled back on error."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(streamfleet_write=True)
            with conn.begin():
                yield conn

    @contextlib.contextmanager
    def read(self, snapshot: bool = False) -> Iterator[Connection]:
        """One read transaction. On SQLite every statement inside sees the same snapshot; on
        PostgreSQL each sees the latest committed state, or one snapshot when ``snapshot``."""
        with self.engine.connect() as conn:
            if snapshot and self.dialect == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Any]:
        """All rows of one read statement (``:name`` parameters)."""
        with self.read() as conn:
            return list(conn.execute(sa.text(sql), dict(params or {})).all())

    def transact(self, work: Callable[[Connection], T], attempts: int = 5) -> T:
        """Run ``work`` in a write transaction, rerun after a deadlock or serialization failure
        (PostgreSQL under concurrency); returns what it returns. ``work`` must be safe to rerun."""
        for attempt in range(1, attempts + 1):
            try:
                with self.write() as conn:
                    return work(conn)
            except DBAPIError as exc:
                if attempt == attempts or not is_retryable(exc):
                    raise
                log.info("transaction retried", extra={"attempt": attempt, "error": str(exc.orig)[:200]})
                time.sleep(0.01 * attempt)
        raise AssertionError("unreachable")

    def upgrade(self, target: str, legacy: LegacyProbe | None = None) -> None:
        """Migrate to ``target`` (e.g. "heads", "catalog@head") with Alembic, one process at a time.

        A database made before Alembic is first stamped with the revision ``legacy`` names. Raises
        DatabaseError when the database has a revision this code does not know (it is newer).
        """
        # Alembic narrates every step (and its plugins, on import) at INFO; one line of ours says
        # what changed instead.
        logging.getLogger("alembic").setLevel(logging.WARNING)
        from alembic import command
        from alembic.config import Config
        from alembic.script import ScriptDirectory

        config = Config()
        config.set_main_option("script_location", self.migrations.script_location)
        config.attributes["version_table"] = self.migrations.version_table
        script = ScriptDirectory.from_config(config)
        wanted = {r.revision for r in script.get_revisions(target) if r is not None}
        with self.write() as conn:
            config.attributes["connection"] = conn
            if self.dialect == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": self.migrations.lock_key})
            found = self._revisions(conn)
            if not found and legacy is not None:
                stamp = legacy(conn)
                if stamp is not None:
                    command.stamp(config, stamp)
                    found = self._revisions(conn)
            unknown = found - {r.revision for r in script.walk_revisions()}
            if unknown:
                raise DatabaseError(f"database {redacted(self.url)} has schema revision "
                                    f"{sorted(unknown)[0]}, newer than this code")
            if wanted <= found:
                return
            command.upgrade(config, target)
            after = sorted(self._revisions(conn))
            log.info("database schema migrated", extra={"database": redacted(self.url), "target": target,
                                                        "before": sorted(found), "after": after})

    def _revisions(self, conn: Connection) -> set[str]:
        """The Alembic revisions the database is at (one per branch); empty before the first one."""
        table = self.migrations.version_table
        if not sa.inspect(conn).has_table(table):
            return set()
        return {str(v) for (v,) in conn.execute(sa.text(f"SELECT version_num FROM {table}"))}

    def close(self) -> None:
        """Close every pooled connection. Safe to call twice."""
        self.engine.dispose()


def _sqlite_events(engine: Engine, synchronous: str) -> None:
    @sa.event.listens_for(engine, "connect")
    def connect(dbapi_connection: Any, record: Any) -> None:
        # Autocommit at the driver level: transactions are ours (the "begin" hook below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("streamfleet_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def table_exists(conn: Connection, name: str) -> bool:
    return sa.inspect(conn).has_table(name)


def open_databases(targets: list[Path | str], open_one: Callable[[Path | str], D]) -> list[D]:
    """``open_one(target)`` per target, the same object for targets naming the same database (so
    stores sharing a PostgreSQL database share one connection pool). Close each distinct one once."""
    opened: dict[str, D] = {}
    out = []
    for target in targets:
        url = database_url(target)
        if url not in opened:
            opened[url] = open_one(target)
        out.append(opened[url])
    return out

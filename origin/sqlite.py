"""A small SQLite database wrapper: WAL, explicit write transactions, numbered migrations."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .errors import CatalogError


class Database:
    """One connection behind a lock: safe across threads; WAL makes it safe across processes.

    ``migrations[i]`` moves the schema from version i to i + 1; never edit a released entry.
    """

    def __init__(self, path: Path, migrations: Sequence[Sequence[str]], synchronous: str = "FULL") -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit: transactions are explicit (BEGIN IMMEDIATE) so writers queue up front.
        self._conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(f"PRAGMA synchronous={synchronous}")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._migrate(migrations)
        except BaseException:
            self._conn.close()
            raise

    def _migrate(self, migrations: Sequence[Sequence[str]]) -> None:
        with self.write() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            current = int(conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] or 0)
            if current > len(migrations):
                raise CatalogError(f"database {self.path} has schema version {current}, newer than this "
                                   f"origin's {len(migrations)}")
            for version in range(current, len(migrations)):
                for statement in migrations[version]:
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version + 1,))

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; BEGIN IMMEDIATE takes the database write lock up front."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def rows(self, sql: str, args: Sequence[object] = ()) -> list[Any]:
        """All rows of one read statement."""
        with self._lock:
            return list(self._conn.execute(sql, tuple(args)).fetchall())

    def close(self) -> None:
        with self._lock:
            self._conn.close()

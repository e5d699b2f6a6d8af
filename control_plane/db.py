"""The control plane's database: the kernel's SQL seam (streamfleet.sqldb) with its migrations.

Kernel DatabaseErrors become the control plane's own DatabaseError here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from streamfleet import sqldb
from streamfleet.sqldb import LegacyProbe, Migrations, database_url, is_retryable, redacted, table_exists

from .errors import DatabaseError

__all__ = ["Database", "MIGRATIONS", "database_url", "is_retryable", "redacted", "table_exists"]

# Its own version table and lock, so the control plane and the origin may share one database.
MIGRATIONS = Migrations("control_plane:migrations", "alembic_version_control_plane", 0x5F_0122)


@contextlib.contextmanager
def _as_room_error() -> Iterator[None]:
    try:
        yield
    except sqldb.DatabaseError as exc:
        raise DatabaseError(str(exc)) from None


class Database(sqldb.Database):
    """The kernel Database bound to the control plane's migrations."""

    def __init__(self, target: str | Path, synchronous: str = "FULL") -> None:
        with _as_room_error():
            super().__init__(target, MIGRATIONS, synchronous)

    def upgrade(self, target: str, legacy: LegacyProbe | None = None) -> None:
        with _as_room_error():
            super().upgrade(target, legacy)

"""The origin's database: the kernel's SQL seam (streamfleet.sqldb) with the origin's migrations.

Kernel DatabaseErrors become CatalogErrors here, so the origin's adapters map one error family.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from streamfleet import sqldb
from streamfleet.sqldb import LegacyProbe, Migrations, database_url, is_retryable, redacted, table_exists

from .errors import CatalogError

__all__ = ["Database", "MIGRATIONS", "database_url", "is_retryable", "open_databases", "redacted",
           "table_exists"]

# Its own version table and lock, so the origin and the control plane may share one database.
MIGRATIONS = Migrations("origin:migrations", "alembic_version_origin", 0x5F_0121)


@contextlib.contextmanager
def _as_catalog_error() -> Iterator[None]:
    try:
        yield
    except sqldb.DatabaseError as exc:
        raise CatalogError(str(exc)) from None


class Database(sqldb.Database):
    """The kernel Database bound to the origin's migrations."""

    def __init__(self, target: str | Path, synchronous: str = "FULL") -> None:
        with _as_catalog_error():
            super().__init__(target, MIGRATIONS, synchronous)

    def upgrade(self, target: str, legacy: LegacyProbe | None = None) -> None:
        with _as_catalog_error():
            super().upgrade(target, legacy)


def open_databases(targets: list[Path | str]) -> list[Database]:
    """The kernel's :func:`streamfleet.sqldb.open_databases` with the origin's Database."""
    return sqldb.open_databases(targets, Database)

"""The database backends the control plane's store tests run against: SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ..scaleout.backends import postgres_server


@pytest.fixture(params=["sqlite", "postgresql"])
def db_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path | str]:
    """What a store opens: a SQLite file (in a directory still to be made), or the URL of a fresh
    database on the session's PostgreSQL server."""
    if request.param == "sqlite":
        yield tmp_path / "nested" / "registry.sqlite3"
        return
    server = postgres_server(request)
    url = server.create_database()
    yield url
    server.drop_database(url)

"""Where the registry keeps appliance records and the fleet version: SQL (SQLite or PostgreSQL), or
memory for tests.

The fill tables (popularity, schedules, manifests) live in the same database, each store module
owning its own; ``open_database`` migrates the whole schema (Alembic) once for both.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .db import Database, table_exists
from .model import ApplianceRecord, ApplianceState, FillProgress, LoadReport, Location, Registration

_COLUMNS = ("appliance_id", "site", "http_url", "capacity_bytes", "client_prefixes", "latitude",
            "longitude", "registered_unix_ms", "last_heartbeat_unix_ms", "state", "healthy_reported", "load",
            "titles", "fill")


def _legacy_revision(conn: Connection) -> str | None:
    """A registry file from before Alembic: its tables match the first revision, or both."""
    if table_exists(conn, "fill_manifests"):
        return "cp_0002"
    return "cp_0001" if table_exists(conn, "appliances") else None


def open_database(target: Path | str | Database) -> Database:
    """The control plane's database, migrated to the newest schema: a SQLite file, a URL, or an open
    Database (migrated and returned). Raises DatabaseError or a SQLAlchemy error when unusable."""
    database = target if isinstance(target, Database) else Database(target, synchronous="NORMAL")
    try:
        database.upgrade("heads", _legacy_revision)
    except BaseException:
        if not isinstance(target, Database):
            database.close()
        raise
    return database


class RegistryStore(Protocol):
    """Persistence seam of :class:`~control_plane.registry.FleetRegistry`."""

    def load_records(self) -> list[ApplianceRecord]:
        """Every stored appliance, in no particular order."""
        ...

    def save_records(self, records: Iterable[ApplianceRecord]) -> None:
        """Insert or replace ``records`` in one transaction."""
        ...

    def load_version(self) -> int:
        """The last fleet version saved; 0 for a new store."""
        ...

    def save_version(self, version: int) -> None: ...

    def close(self) -> None: ...


class MemoryRegistryStore:
    """A store that forgets everything with the process; for tests and throwaway runs."""

    def __init__(self) -> None:
        self.records: dict[str, ApplianceRecord] = {}
        self.version = 0

    def load_records(self) -> list[ApplianceRecord]:
        return list(self.records.values())

    def save_records(self, records: Iterable[ApplianceRecord]) -> None:
        for record in records:
            self.records[record.appliance_id] = record

    def load_version(self) -> int:
        return self.version

    def save_version(self, version: int) -> None:
        self.version = version

    def close(self) -> None:
        pass


class SqlRegistryStore:
    """The registry in a SQL database. Blocking calls: each is a few small statements. Safe across
    threads (pooled connections). ``target``: a SQLite file, a URL, or a shared Database (closed by
    its owner then)."""

    def __init__(self, target: Path | str | Database) -> None:
        self._owned = not isinstance(target, Database)
        self._db = open_database(target)

    def load_records(self) -> list[ApplianceRecord]:
        rows = self._db.rows(f"SELECT {', '.join(_COLUMNS)} FROM appliances")
        return [_record_from_row(tuple(row)) for row in rows]

    def save_records(self, records: Iterable[ApplianceRecord]) -> None:
        rows = [dict(zip(_COLUMNS, _row_from_record(r), strict=True)) for r in records]
        if not rows:
            return
        updates = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS[1:])
        with self._db.write() as conn:
            conn.execute(sa.text(f"INSERT INTO appliances ({', '.join(_COLUMNS)}) VALUES "
                                 f"({', '.join(':' + c for c in _COLUMNS)}) "
                                 f"ON CONFLICT (appliance_id) DO UPDATE SET {updates}"), rows)

    def load_version(self) -> int:
        rows = self._db.rows("SELECT value FROM meta WHERE key = 'fleet_version'")
        return int(rows[0][0]) if rows else 0

    def save_version(self, version: int) -> None:
        # Never backwards: replicas sharing the database each publish from the highest version.
        with self._db.write() as conn:
            conn.execute(sa.text("INSERT INTO meta (key, value) VALUES ('fleet_version', :v) "
                                 "ON CONFLICT (key) DO UPDATE SET value = CASE "
                                 "WHEN excluded.value > meta.value THEN excluded.value ELSE meta.value END"),
                         {"v": version})

    def close(self) -> None:
        if self._owned:
            self._db.close()


def _row_from_record(r: ApplianceRecord) -> tuple[Any, ...]:
    reg = r.registration
    return (
        reg.appliance_id,
        reg.site,
        reg.http_url,
        reg.capacity_bytes,
        json.dumps(list(reg.client_prefixes)),
        reg.location.latitude if reg.location else None,
        reg.location.longitude if reg.location else None,
        r.registered_unix_ms,
        r.last_heartbeat_unix_ms,
        r.state.value,
        int(r.healthy_reported),
        json.dumps(asdict(r.load)),
        json.dumps(list(r.titles)),
        json.dumps(asdict(r.fill)),
    )


def _record_from_row(row: tuple[Any, ...]) -> ApplianceRecord:
    (ident, site, url, capacity, prefixes, lat, lon, registered, last_hb, state, healthy, load, titles,
     fill) = row
    location = Location(float(lat), float(lon)) if lat is not None and lon is not None else None
    return ApplianceRecord(
        registration=Registration(
            appliance_id=ident,
            site=site,
            http_url=url,
            capacity_bytes=int(capacity),
            client_prefixes=tuple(json.loads(prefixes)),
            location=location,
        ),
        registered_unix_ms=int(registered),
        state=ApplianceState(state),
        healthy_reported=bool(healthy),
        load=LoadReport(**json.loads(load)),
        titles=tuple(json.loads(titles)),
        fill=FillProgress(**json.loads(fill)),
        last_heartbeat_unix_ms=None if last_hb is None else int(last_hb),
    )

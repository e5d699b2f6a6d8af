"""Where the registry keeps appliance records and the fleet version: SQLite, or memory for tests.

Later tables (fill schedules, popularity) get their own store modules next to this one.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

from .model import ApplianceRecord, ApplianceState, FillProgress, LoadReport, Location, Registration

_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS appliances (
    appliance_id TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    http_url TEXT NOT NULL,
    capacity_bytes INTEGER NOT NULL,
    client_prefixes TEXT NOT NULL,      -- JSON list of CIDR strings
    latitude REAL,                      -- NULL: location unknown
    longitude REAL,
    registered_unix_ms INTEGER NOT NULL,
    last_heartbeat_unix_ms INTEGER,     -- NULL: never heartbeated
    state TEXT NOT NULL,
    healthy_reported INTEGER NOT NULL,
    load TEXT NOT NULL,                 -- JSON object of LoadReport fields
    titles TEXT NOT NULL,               -- JSON list of title ids
    fill TEXT NOT NULL                  -- JSON object of FillProgress fields
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


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


class SqliteRegistryStore:
    """The registry in one SQLite file (WAL). Blocking calls: each is a few small statements.

    Not safe across threads (one connection); use from the event loop's thread only.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives process crashes; only a power cut can lose the last commits.
        self._db.execute("PRAGMA synchronous=NORMAL")
        found = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if found > _SCHEMA_VERSION:
            raise RuntimeError(f"{path}: schema version {found} is newer than this control plane")
        self._db.executescript(_SCHEMA)
        self._db.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")

    def load_records(self) -> list[ApplianceRecord]:
        rows = self._db.execute(
            "SELECT appliance_id, site, http_url, capacity_bytes, client_prefixes, latitude, longitude,"
            " registered_unix_ms, last_heartbeat_unix_ms, state, healthy_reported, load, titles, fill"
            " FROM appliances"
        ).fetchall()
        return [_record_from_row(row) for row in rows]

    def save_records(self, records: Iterable[ApplianceRecord]) -> None:
        rows = [_row_from_record(r) for r in records]
        if not rows:
            return
        with self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO appliances VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
            )

    def load_version(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'fleet_version'").fetchone()
        return int(row[0]) if row else 0

    def save_version(self, version: int) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('fleet_version', ?)", (version,))

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")


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

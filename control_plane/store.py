"""Where the registry keeps appliance records, their published statuses and the fleet version: SQL
(SQLite or PostgreSQL, shared by every replica), or memory for tests.

Two counters order what replicas share. ``registry_revision`` goes up with every write of records
(each row keeps the revision of its last write), so a replica reads only the rows changed since it
last looked. ``fleet_version`` goes up whenever a status steering sees changes; each status keeps
the version that published it, so the fleet at version V is every status published at V or
before, the same on every replica. The fill tables (popularity, schedules, manifests) live in the
same database, each store module owning its own; ``open_database`` migrates the whole schema
(Alembic) once for both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .db import Database, table_exists
from .model import ApplianceRecord, ApplianceStatus, Health
from .rows import RECORD_COLUMNS, record_from_row, row_from_record, status_from_json, status_to_json


@dataclass(frozen=True, slots=True)
class RegistryView:
    """What a replica reads back from the store: what changed since the point it asked about."""

    # The registry revision ``records`` are current to.
    revision: int
    # Records written after the revision asked about (all of them when asked from 0).
    records: tuple[ApplianceRecord, ...]
    # The fleet version ``statuses`` complete, and when it was published (unix ms).
    version: int
    generated_unix_ms: int
    # Statuses published after the version asked about.
    statuses: tuple[ApplianceStatus, ...]
    # The database server's clock (unix ms) when it answered; None: use the local clock.
    database_now_ms: int | None = None


class RegistryStore(Protocol):
    """Persistence seam of :class:`~control_plane.registry.FleetRegistry`, shared by replicas."""

    def read(self, since_revision: int = 0, since_version: int = 0) -> RegistryView:
        """What changed after ``since_revision`` (records) and ``since_version`` (statuses)."""
        ...

    def write(self, records: Sequence[ApplianceRecord], statuses: Sequence[ApplianceStatus], *,
              publish: bool, since_revision: int, since_version: int, now_ms: int) -> RegistryView:
        """In one transaction: save ``records``; when ``publish`` (or any statuses), publish
        ``statuses`` as the next fleet version, stamped ``now_ms``; then read as :meth:`read`."""
        ...

    def mark_down(self, appliance_ids: Sequence[str], cutoff_ms: int, *, since_revision: int,
                  since_version: int, now_ms: int) -> RegistryView:
        """Publish DOWN, under the next version, for those of ``appliance_ids`` whose last sign of
        life (registration or heartbeat) is at or before ``cutoff_ms`` and that are not DOWN yet;
        nothing when none is (a replica may have stored a fresher heartbeat). Then read as above."""
        ...

    def close(self) -> None: ...


def sign_of_life_ms(record: ApplianceRecord) -> int:
    """When the appliance last proved it was alive: its last registration or heartbeat (unix ms)."""
    return max(record.registered_unix_ms, record.last_heartbeat_unix_ms or 0)


class MemoryRegistryStore:
    """A store that forgets everything with the process; for tests and throwaway runs. One replica."""

    def __init__(self) -> None:
        self.records: dict[str, tuple[int, ApplianceRecord]] = {}
        self.statuses: dict[str, tuple[int, ApplianceStatus]] = {}
        self.revision = 0
        self.version = 0
        self.generated_unix_ms = 0

    def read(self, since_revision: int = 0, since_version: int = 0) -> RegistryView:
        return RegistryView(
            self.revision, tuple(r for n, r in self.records.values() if n > since_revision),
            self.version, self.generated_unix_ms,
            tuple(s for n, s in self.statuses.values() if n > since_version),
        )

    def write(self, records: Sequence[ApplianceRecord], statuses: Sequence[ApplianceStatus], *,
              publish: bool, since_revision: int, since_version: int, now_ms: int) -> RegistryView:
        if records:
            self.revision += 1
            for record in records:
                self.records[record.appliance_id] = (self.revision, record)
        if publish or statuses:
            self._publish(statuses, now_ms)
        return self.read(since_revision, since_version)

    def mark_down(self, appliance_ids: Sequence[str], cutoff_ms: int, *, since_revision: int,
                  since_version: int, now_ms: int) -> RegistryView:
        down = []
        for ident in appliance_ids:
            record, status = self.records.get(ident), self.statuses.get(ident)
            if record and status and status[1].health is not Health.DOWN \
                    and sign_of_life_ms(record[1]) <= cutoff_ms:
                down.append(replace(status[1], health=Health.DOWN))
        if down:
            self._publish(down, now_ms)
        return self.read(since_revision, since_version)

    def _publish(self, statuses: Sequence[ApplianceStatus], now_ms: int) -> None:
        self.version += 1
        self.generated_unix_ms = now_ms
        for status in statuses:
            self.statuses[status.appliance_id] = (self.version, status)

    def close(self) -> None:
        pass


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


class _NothingToPublish(Exception):
    """Rolls back a transaction that found nothing to change."""


# A counter in ``meta``, created at 1 when missing; the row lock orders concurrent writers.
_BUMP = sa.text("INSERT INTO meta (key, value) VALUES (:key, 1) ON CONFLICT (key) "
                "DO UPDATE SET value = meta.value + 1 RETURNING value")
_SET = sa.text("INSERT INTO meta (key, value) VALUES (:key, :value) ON CONFLICT (key) "
               "DO UPDATE SET value = excluded.value")
_STAMP = ("CASE WHEN last_heartbeat_unix_ms IS NULL OR registered_unix_ms > last_heartbeat_unix_ms "
          "THEN registered_unix_ms ELSE last_heartbeat_unix_ms END")


class SqlRegistryStore:
    """The registry in a SQL database. Blocking calls: each is a few small statements. Safe across
    threads (pooled connections) and processes (replicas). ``target``: a SQLite file, a URL, or a
    shared Database (closed by its owner then). ``database_clock``: report PostgreSQL's clock in
    every view, so replicas on several hosts judge silence against one clock."""

    def __init__(self, target: Path | str | Database, *, database_clock: bool = False) -> None:
        self._owned = not isinstance(target, Database)
        self._db = open_database(target)
        self._clock_sql = database_clock and self._db.dialect == "postgresql"

    def read(self, since_revision: int = 0, since_version: int = 0) -> RegistryView:
        with self._db.read(snapshot=True) as conn:
            return self._view(conn, since_revision, since_version)

    def write(self, records: Sequence[ApplianceRecord], statuses: Sequence[ApplianceStatus], *,
              publish: bool, since_revision: int, since_version: int, now_ms: int) -> RegistryView:
        if not records and not publish and not statuses:
            return self.read(since_revision, since_version)

        def work(conn: Connection) -> RegistryView:
            # Rows first (a new appliance's status needs its row), then the version. Every writer
            # takes the two counters' row locks in this order, so concurrent replicas never deadlock.
            written = self._save(conn, records) if records else None
            if publish or statuses:
                self._publish(conn, statuses, now_ms)
            # Our own rows are not read back: the caller has them.
            return self._view(conn, since_revision, since_version, skip_revision=written)

        return self._db.transact(work)

    def mark_down(self, appliance_ids: Sequence[str], cutoff_ms: int, *, since_revision: int,
                  since_version: int, now_ms: int) -> RegistryView:
        def work(conn: Connection) -> RegistryView:
            version = self._next_version(conn, now_ms)  # first: the lock orders concurrent sweeps
            marked = 0
            for ident in appliance_ids:
                found = conn.execute(sa.text(
                    f"SELECT status FROM appliances WHERE appliance_id = :id AND {_STAMP} <= :cutoff "
                    "AND status IS NOT NULL"), {"id": ident, "cutoff": cutoff_ms}).first()
                status = None if found is None else status_from_json(found[0])
                if status is None or status.health is Health.DOWN:
                    continue
                conn.execute(sa.text("UPDATE appliances SET status = :status, status_version = :v "
                                     "WHERE appliance_id = :id"),
                             {"status": status_to_json(replace(status, health=Health.DOWN)), "v": version,
                              "id": ident})
                marked += 1
            if not marked:
                raise _NothingToPublish
            return self._view(conn, since_revision, since_version)

        try:
            return self._db.transact(work)
        except _NothingToPublish:
            return self.read(since_revision, since_version)

    def load_version(self) -> int:
        """The last fleet version published; 0 for a new store."""
        rows = self._db.rows("SELECT value FROM meta WHERE key = 'fleet_version'")
        return int(rows[0][0]) if rows else 0

    def close(self) -> None:
        if self._owned:
            self._db.close()

    # -- internals -----------------------------------------------------------------------------

    def _next_version(self, conn: Connection, now_ms: int) -> int:
        version = int(conn.execute(_BUMP, {"key": "fleet_version"}).scalar_one())
        conn.execute(_SET, {"key": "fleet_version_unix_ms", "value": now_ms})
        return version

    def _publish(self, conn: Connection, statuses: Sequence[ApplianceStatus], now_ms: int) -> None:
        version = self._next_version(conn, now_ms)
        if statuses:
            conn.execute(sa.text("UPDATE appliances SET status = :status, status_version = :v "
                                 "WHERE appliance_id = :id"),
                         [{"status": status_to_json(s), "v": version, "id": s.appliance_id}
                          for s in statuses])

    def _save(self, conn: Connection, records: Sequence[ApplianceRecord]) -> int:
        """Write ``records`` under a new registry revision; returns it."""
        revision = int(conn.execute(_BUMP, {"key": "registry_revision"}).scalar_one())
        rows = [{**dict(zip(RECORD_COLUMNS, row_from_record(r), strict=True)), "revision": revision}
                for r in records]
        columns = (*RECORD_COLUMNS, "revision")
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns[1:])
        conn.execute(sa.text(f"INSERT INTO appliances ({', '.join(columns)}) VALUES "
                             f"({', '.join(':' + c for c in columns)}) "
                             f"ON CONFLICT (appliance_id) DO UPDATE SET {updates}"), rows)
        return revision

    def _view(self, conn: Connection, since_revision: int, since_version: int,
              skip_revision: int | None = None) -> RegistryView:
        meta: dict[str, int] = dict(conn.execute(sa.text(
            "SELECT key, value FROM meta WHERE key IN "
            "('registry_revision', 'fleet_version', 'fleet_version_unix_ms')")).all())
        revision, version = int(meta.get("registry_revision", 0)), int(meta.get("fleet_version", 0))
        records: tuple[ApplianceRecord, ...] = ()
        if revision > since_revision or since_revision == 0:
            # From 0: every row, including those written before revisions were kept (0).
            after = since_revision if since_revision else -1
            rows = conn.execute(sa.text(f"SELECT {', '.join(RECORD_COLUMNS)} FROM appliances "
                                        "WHERE revision > :r AND revision <> :skip"),
                                {"r": after, "skip": -1 if skip_revision is None else skip_revision})
            records = tuple(record_from_row(tuple(row)) for row in rows)
        statuses: tuple[ApplianceStatus, ...] = ()
        if version > since_version:
            rows = conn.execute(sa.text("SELECT status FROM appliances WHERE status_version > :v "
                                        "AND status IS NOT NULL"), {"v": since_version})
            statuses = tuple(status_from_json(row[0]) for row in rows)
        now: int | None = None
        if self._clock_sql:
            now = int(conn.execute(sa.text(
                "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)")).scalar_one())
        return RegistryView(revision, records, version, int(meta.get("fleet_version_unix_ms", 0)), statuses,
                            now)

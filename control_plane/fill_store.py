"""Where popularity, fill schedules and planned manifests live: SQL tables (SQLite or PostgreSQL,
the registry's database, migrated with it by Alembic), or memory for tests.

Replicas share them: only the lease holder writes popularity and manifests (manifest versions are
fenced: a version at or below the stored one is refused), any replica writes schedules and the
popularity inbox, and ``fill_meta`` counters tell the others what to re-read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa

from .db import Database
from .errors import NotLeader
from .manifest import FillEntry, FillWindow, Manifest
from .popularity import InboxEntry, Row
from .schedules import FillSchedule
from .store import open_database

# (appliance id, site, manifest)
ManifestRow = tuple[str, str, Manifest]


@dataclass(frozen=True, slots=True)
class FillRevisions:
    """Counters replicas compare to know what to re-read; all 0 for a new store."""

    # The last manifest version handed out.
    manifests: int = 0
    # Bumped by every schedule write.
    schedules: int = 0
    # Bumped by every popularity report put in the inbox.
    inbox: int = 0


class ScheduleStore(Protocol):
    def load_schedules(self) -> list[FillSchedule]: ...

    def save_schedule(self, schedule: FillSchedule) -> None:
        """Insert or replace the site's schedule (and bump the schedules revision)."""
        ...


class ManifestStore(Protocol):
    def load_manifests(self, since_version: int = 0) -> list[ManifestRow]:
        """Every stored manifest with a version above ``since_version``."""
        ...

    def save_manifests(self, rows: Iterable[ManifestRow], last_version: int) -> None:
        """Insert or replace ``rows`` and record the last version handed out, in one transaction.

        Raises NotLeader when ``last_version`` is not above the stored one (another replica
        planned meanwhile): nothing is written then.
        """
        ...

    def delete_manifests(self, appliance_ids: Iterable[str]) -> None: ...

    def load_last_version(self) -> int:
        """The last manifest version handed out; 0 for a new store."""
        ...

    def load_revisions(self) -> FillRevisions: ...


class MemoryFillStore:
    """Implements every fill store Protocol in memory; for tests and benchmarks."""

    def __init__(self) -> None:
        self.popularity: dict[tuple[str, str], Row] = {}
        self.schedules: dict[str, FillSchedule] = {}
        self.manifests: dict[str, ManifestRow] = {}
        self.last_version = 0
        self.schedule_revision = 0
        self.inbox: list[InboxEntry] = []
        self.inbox_revision = 0

    def load_popularity(self) -> list[Row]:
        return list(self.popularity.values())

    def save_popularity(self, rows: Iterable[Row]) -> None:
        for row in rows:
            self.popularity[(row[0], row[1])] = row

    def delete_popularity(self, keys: Iterable[tuple[str, str]]) -> None:
        for key in keys:
            self.popularity.pop(key, None)

    def add_to_inbox(self, site: str, starts: Mapping[str, int], at_ms: int) -> None:
        self.inbox_revision += 1
        for title, count in starts.items():
            self.inbox.append((self.inbox_revision * 1_000_000 + len(self.inbox), site, title, count, at_ms))

    def load_inbox(self) -> list[InboxEntry]:
        return list(self.inbox)

    def fold_inbox(self, rows: Iterable[Row], upto_id: int) -> None:
        self.save_popularity(rows)
        self.inbox = [e for e in self.inbox if e[0] > upto_id]

    def load_schedules(self) -> list[FillSchedule]:
        return list(self.schedules.values())

    def save_schedule(self, schedule: FillSchedule) -> None:
        self.schedules[schedule.site] = schedule
        self.schedule_revision += 1

    def load_manifests(self, since_version: int = 0) -> list[ManifestRow]:
        return [row for row in self.manifests.values() if row[2].version > since_version]

    def save_manifests(self, rows: Iterable[ManifestRow], last_version: int) -> None:
        if last_version <= self.last_version:
            raise NotLeader(f"manifest version {self.last_version} was handed out already")
        for row in rows:
            self.manifests[row[0]] = row
        self.last_version = last_version

    def delete_manifests(self, appliance_ids: Iterable[str]) -> None:
        for ident in appliance_ids:
            self.manifests.pop(ident, None)

    def load_last_version(self) -> int:
        return self.last_version

    def load_revisions(self) -> FillRevisions:
        return FillRevisions(self.last_version, self.schedule_revision, self.inbox_revision)

    def close(self) -> None:
        pass


class SqlFillStore:
    """The fill tables in a SQL database. Safe across threads (pooled connections). ``target``: a
    SQLite file, a URL, or a shared Database (closed by its owner then)."""

    def __init__(self, target: Path | str | Database) -> None:
        self._owned = not isinstance(target, Database)
        self._db = open_database(target)

    def load_popularity(self) -> list[Row]:
        rows = self._db.rows("SELECT site, title, score, as_of_unix_ms FROM popularity")
        return [(str(s), str(t), float(v), int(ms)) for s, t, v, ms in rows]

    def save_popularity(self, rows: Iterable[Row]) -> None:
        batch = list(rows)
        if batch:
            with self._db.write() as conn:
                self._save_popularity(conn, batch)

    def _save_popularity(self, conn: sa.Connection, rows: Iterable[Row]) -> None:
        batch = [{"site": s, "title": t, "score": v, "ms": ms} for s, t, v, ms in rows]
        if batch:
            conn.execute(sa.text("INSERT INTO popularity (site, title, score, as_of_unix_ms) "
                                 "VALUES (:site, :title, :score, :ms) ON CONFLICT (site, title) "
                                 "DO UPDATE SET score = excluded.score, "
                                 "as_of_unix_ms = excluded.as_of_unix_ms"), batch)

    def delete_popularity(self, keys: Iterable[tuple[str, str]]) -> None:
        batch = [{"site": s, "title": t} for s, t in keys]
        if batch:
            with self._db.write() as conn:
                conn.execute(sa.text("DELETE FROM popularity WHERE site = :site AND title = :title"), batch)

    def add_to_inbox(self, site: str, starts: Mapping[str, int], at_ms: int) -> None:
        batch = [{"site": site, "title": t, "starts": n, "at": at_ms} for t, n in starts.items() if n]
        with self._db.write() as conn:
            if batch:
                conn.execute(sa.text("INSERT INTO popularity_inbox (site, title, starts, at_unix_ms) "
                                     "VALUES (:site, :title, :starts, :at)"), batch)
            _bump(conn, "inbox_revision")

    def load_inbox(self) -> list[InboxEntry]:
        rows = self._db.rows("SELECT id, site, title, starts, at_unix_ms FROM popularity_inbox ORDER BY id")
        return [(int(i), str(s), str(t), int(n), int(at)) for i, s, t, n, at in rows]

    def fold_inbox(self, rows: Iterable[Row], upto_id: int) -> None:
        """Save the scores the inbox's entries up to ``upto_id`` made and delete those entries, in
        one transaction (so no report is counted twice or lost)."""
        with self._db.write() as conn:
            self._save_popularity(conn, rows)
            conn.execute(sa.text("DELETE FROM popularity_inbox WHERE id <= :upto"), {"upto": upto_id})

    def load_schedules(self) -> list[FillSchedule]:
        rows = self._db.rows('SELECT site, start, "end", tz, rate_bits_per_second, run_now_until '
                             "FROM fill_schedules")
        return [FillSchedule(str(s), str(a), str(b), str(tz), int(r), int(u)) for s, a, b, tz, r, u in rows]

    def save_schedule(self, schedule: FillSchedule) -> None:
        s = schedule
        with self._db.write() as conn:
            conn.execute(sa.text(
                'INSERT INTO fill_schedules (site, start, "end", tz, rate_bits_per_second, run_now_until) '
                "VALUES (:site, :start, :end, :tz, :rate, :until) ON CONFLICT (site) DO UPDATE SET "
                'start = excluded.start, "end" = excluded."end", tz = excluded.tz, '
                "rate_bits_per_second = excluded.rate_bits_per_second, "
                "run_now_until = excluded.run_now_until"),
                {"site": s.site, "start": s.start, "end": s.end, "tz": s.tz, "rate": s.rate_bits_per_second,
                 "until": s.run_now_until})
            _bump(conn, "schedule_revision")

    def load_manifests(self, since_version: int = 0) -> list[ManifestRow]:
        rows = self._db.rows('SELECT appliance_id, site, version, entries, "window", origin_url '
                             "FROM fill_manifests WHERE version > :v", {"v": since_version})
        out = []
        for ident, site, version, entries, window, origin_url in rows:
            manifest = Manifest(
                version=int(version),
                entries=tuple(FillEntry(t, p, int(b)) for p, (t, b) in enumerate(json.loads(entries))),
                window=FillWindow(**json.loads(window)),
                origin_url=str(origin_url),
            )
            out.append((str(ident), str(site), manifest))
        return out

    def save_manifests(self, rows: Iterable[ManifestRow], last_version: int) -> None:
        batch = [{"id": ident, "site": site, "version": m.version,
                  "entries": json.dumps([[e.title, e.bytes] for e in m.entries]),
                  "window": json.dumps(_window_json(m.window)), "origin": m.origin_url}
                 for ident, site, m in rows]
        with self._db.write() as conn:
            # Fencing: a replica that lost the lease while planning must not overwrite newer plans.
            stored = conn.execute(sa.text("SELECT value FROM fill_meta WHERE key = 'manifest_version'"))\
                .first()
            if stored is not None and int(stored[0]) >= last_version:
                raise NotLeader(f"manifest version {int(stored[0])} was handed out already")
            if batch:
                conn.execute(sa.text(
                    'INSERT INTO fill_manifests (appliance_id, site, version, entries, "window", origin_url) '
                    "VALUES (:id, :site, :version, :entries, :window, :origin) ON CONFLICT (appliance_id) "
                    "DO UPDATE SET site = excluded.site, version = excluded.version, "
                    "entries = excluded.entries, "
                    '"window" = excluded."window", origin_url = excluded.origin_url'), batch)
            conn.execute(sa.text("INSERT INTO fill_meta (key, value) VALUES ('manifest_version', :v) "
                                 "ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
                         {"v": last_version})

    def delete_manifests(self, appliance_ids: Iterable[str]) -> None:
        batch = [{"id": i} for i in appliance_ids]
        if batch:
            with self._db.write() as conn:
                conn.execute(sa.text("DELETE FROM fill_manifests WHERE appliance_id = :id"), batch)

    def load_last_version(self) -> int:
        rows = self._db.rows("SELECT value FROM fill_meta WHERE key = 'manifest_version'")
        return int(rows[0][0]) if rows else 0

    def load_revisions(self) -> FillRevisions:
        values = {str(k): int(v) for k, v in self._db.rows("SELECT key, value FROM fill_meta")}
        return FillRevisions(values.get("manifest_version", 0), values.get("schedule_revision", 0),
                             values.get("inbox_revision", 0))

    def close(self) -> None:
        if self._owned:
            self._db.close()


def _bump(conn: sa.Connection, key: str) -> None:
    conn.execute(sa.text("INSERT INTO fill_meta (key, value) VALUES (:key, 1) ON CONFLICT (key) "
                         "DO UPDATE SET value = fill_meta.value + 1"), {"key": key})


def _window_json(w: FillWindow) -> dict[str, object]:
    return {"start": w.start, "end": w.end, "tz": w.tz, "rate_bits_per_second": w.rate_bits_per_second,
            "run_now_until": w.run_now_until}

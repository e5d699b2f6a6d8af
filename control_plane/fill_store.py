"""Where popularity, fill schedules and planned manifests live: SQL tables (SQLite or PostgreSQL,
the registry's database, migrated with it by Alembic), or memory for tests.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa

from .db import Database
from .manifest import FillEntry, FillWindow, Manifest
from .popularity import Row
from .schedules import FillSchedule
from .store import open_database

# (appliance id, site, manifest)
ManifestRow = tuple[str, str, Manifest]


class ScheduleStore(Protocol):
    def load_schedules(self) -> list[FillSchedule]: ...

    def save_schedule(self, schedule: FillSchedule) -> None: ...


class ManifestStore(Protocol):
    def load_manifests(self) -> list[ManifestRow]:
        """Every stored manifest."""
        ...

    def save_manifests(self, rows: Iterable[ManifestRow], last_version: int) -> None:
        """Insert or replace ``rows`` and record the last version handed out, in one transaction."""
        ...

    def delete_manifests(self, appliance_ids: Iterable[str]) -> None: ...

    def load_last_version(self) -> int:
        """The last manifest version handed out; 0 for a new store."""
        ...


class MemoryFillStore:
    """Implements every fill store Protocol in memory; for tests and benchmarks."""

    def __init__(self) -> None:
        self.popularity: dict[tuple[str, str], Row] = {}
        self.schedules: dict[str, FillSchedule] = {}
        self.manifests: dict[str, ManifestRow] = {}
        self.last_version = 0

    def load_popularity(self) -> list[Row]:
        return list(self.popularity.values())

    def save_popularity(self, rows: Iterable[Row]) -> None:
        for row in rows:
            self.popularity[(row[0], row[1])] = row

    def delete_popularity(self, keys: Iterable[tuple[str, str]]) -> None:
        for key in keys:
            self.popularity.pop(key, None)

    def load_schedules(self) -> list[FillSchedule]:
        return list(self.schedules.values())

    def save_schedule(self, schedule: FillSchedule) -> None:
        self.schedules[schedule.site] = schedule

    def load_manifests(self) -> list[ManifestRow]:
        return list(self.manifests.values())

    def save_manifests(self, rows: Iterable[ManifestRow], last_version: int) -> None:
        for row in rows:
            self.manifests[row[0]] = row
        self.last_version = last_version

    def delete_manifests(self, appliance_ids: Iterable[str]) -> None:
        for ident in appliance_ids:
            self.manifests.pop(ident, None)

    def load_last_version(self) -> int:
        return self.last_version

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
        batch = [{"site": s, "title": t, "score": v, "ms": ms} for s, t, v, ms in rows]
        if batch:
            with self._db.write() as conn:
                conn.execute(sa.text("INSERT INTO popularity (site, title, score, as_of_unix_ms) "
                                     "VALUES (:site, :title, :score, :ms) ON CONFLICT (site, title) "
                                     "DO UPDATE SET score = excluded.score, "
                                     "as_of_unix_ms = excluded.as_of_unix_ms"), batch)

    def delete_popularity(self, keys: Iterable[tuple[str, str]]) -> None:
        batch = [{"site": s, "title": t} for s, t in keys]
        if batch:
            with self._db.write() as conn:
                conn.execute(sa.text("DELETE FROM popularity WHERE site = :site AND title = :title"), batch)

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

    def load_manifests(self) -> list[ManifestRow]:
        rows = self._db.rows('SELECT appliance_id, site, version, entries, "window", origin_url '
                             "FROM fill_manifests")
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

    def close(self) -> None:
        if self._owned:
            self._db.close()


def _window_json(w: FillWindow) -> dict[str, object]:
    return {"start": w.start, "end": w.end, "tz": w.tz, "rate_bits_per_second": w.rate_bits_per_second,
            "run_now_until": w.run_now_until}

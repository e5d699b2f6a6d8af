"""Where popularity, fill schedules and planned manifests live: SQLite tables, or memory for tests.

The tables share the registry's SQLite file (their own names, their own schema version in
``fill_meta``), so one file holds the whole control-plane state.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol

from .manifest import FillEntry, FillWindow, Manifest
from .popularity import Row
from .schedules import FillSchedule

_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS fill_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS popularity (
    site TEXT NOT NULL,
    title TEXT NOT NULL,
    score REAL NOT NULL,                -- decayed count as of as_of_unix_ms
    as_of_unix_ms INTEGER NOT NULL,
    PRIMARY KEY (site, title)
);
CREATE TABLE IF NOT EXISTS fill_schedules (
    site TEXT PRIMARY KEY,
    start TEXT NOT NULL,                -- "HH:MM" local; "" when no window
    "end" TEXT NOT NULL,
    tz TEXT NOT NULL,
    rate_bits_per_second INTEGER NOT NULL,
    run_now_until INTEGER NOT NULL      -- unix seconds; 0: not set
);
CREATE TABLE IF NOT EXISTS fill_manifests (
    appliance_id TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    version INTEGER NOT NULL,
    entries TEXT NOT NULL,              -- JSON [[title, bytes], ...], most valuable first
    "window" TEXT NOT NULL,             -- JSON object of FillWindow fields
    origin_url TEXT NOT NULL
);
"""

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


class SqliteFillStore:
    """The fill tables in one SQLite file (WAL). One connection: use from the event loop's thread."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        row = self._db.execute("SELECT value FROM fill_meta WHERE key = 'schema_version'").fetchone()
        if row is not None and int(row[0]) > _SCHEMA_VERSION:
            raise RuntimeError(f"{path}: fill schema version {row[0]} is newer than this control plane")
        self._db.execute("INSERT OR REPLACE INTO fill_meta VALUES ('schema_version', ?)", (_SCHEMA_VERSION,))

    def load_popularity(self) -> list[Row]:
        rows = self._db.execute("SELECT site, title, score, as_of_unix_ms FROM popularity").fetchall()
        return [(str(s), str(t), float(v), int(ms)) for s, t, v, ms in rows]

    def save_popularity(self, rows: Iterable[Row]) -> None:
        batch = list(rows)
        if batch:
            with self._transaction():
                self._db.executemany("INSERT OR REPLACE INTO popularity VALUES (?, ?, ?, ?)", batch)

    def delete_popularity(self, keys: Iterable[tuple[str, str]]) -> None:
        batch = list(keys)
        if batch:
            with self._transaction():
                self._db.executemany("DELETE FROM popularity WHERE site = ? AND title = ?", batch)

    def load_schedules(self) -> list[FillSchedule]:
        rows = self._db.execute(
            'SELECT site, start, "end", tz, rate_bits_per_second, run_now_until FROM fill_schedules'
        ).fetchall()
        return [FillSchedule(str(s), str(a), str(b), str(tz), int(r), int(u)) for s, a, b, tz, r, u in rows]

    def save_schedule(self, schedule: FillSchedule) -> None:
        s = schedule
        self._db.execute("INSERT OR REPLACE INTO fill_schedules VALUES (?, ?, ?, ?, ?, ?)",
                         (s.site, s.start, s.end, s.tz, s.rate_bits_per_second, s.run_now_until))

    def load_manifests(self) -> list[ManifestRow]:
        rows = self._db.execute(
            'SELECT appliance_id, site, version, entries, "window", origin_url FROM fill_manifests'
        ).fetchall()
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
        batch = [
            (ident, site, m.version, json.dumps([[e.title, e.bytes] for e in m.entries]),
             json.dumps(_window_json(m.window)), m.origin_url)
            for ident, site, m in rows
        ]
        with self._transaction():
            self._db.executemany("INSERT OR REPLACE INTO fill_manifests VALUES (?, ?, ?, ?, ?, ?)", batch)
            self._db.execute("INSERT OR REPLACE INTO fill_meta VALUES ('manifest_version', ?)",
                             (last_version,))

    def delete_manifests(self, appliance_ids: Iterable[str]) -> None:
        batch = [(i,) for i in appliance_ids]
        if batch:
            with self._transaction():
                self._db.executemany("DELETE FROM fill_manifests WHERE appliance_id = ?", batch)

    def load_last_version(self) -> int:
        row = self._db.execute("SELECT value FROM fill_meta WHERE key = 'manifest_version'").fetchone()
        return int(row[0]) if row else 0

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


def _window_json(w: FillWindow) -> dict[str, object]:
    return {"start": w.start, "end": w.end, "tz": w.tz, "rate_bits_per_second": w.rate_bits_per_second,
            "run_now_until": w.run_now_until}

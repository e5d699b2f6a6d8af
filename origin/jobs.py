"""A persistent job queue in SQLite with leases: workers claim, heartbeat, complete or fail jobs.

A claimed job is leased to one worker until ``lease_expires``; heartbeats extend the lease. A worker
that dies stops heartbeating, its lease runs out and the next ``claim`` hands the job to another
worker (that counts as an attempt). After ``max_attempts`` attempts a job is ``failed`` with its last
error, and the title's jobs that were still waiting are cancelled. Jobs of a title run in stages:
a job waits until every job of the title in a lower stage is done. Safe across threads and processes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .sqlite import Database

WAITING, QUEUED, LEASED = "waiting", "queued", "leased"
DONE, FAILED, CANCELLED = "done", "failed", "cancelled"

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE jobs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            title TEXT NOT NULL,
            kind TEXT NOT NULL,
            stage INTEGER NOT NULL,
            payload TEXT NOT NULL,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            max_attempts INTEGER NOT NULL,
            worker TEXT,
            lease_expires REAL,
            error TEXT,
            created REAL NOT NULL,
            updated REAL NOT NULL)""",
        "CREATE INDEX jobs_by_state ON jobs(state, id)",
        "CREATE INDEX jobs_by_title ON jobs(title, stage)",
    ),
)


@dataclass(frozen=True)
class NewJob:
    """A job to add: ``kind`` names its handler, ``payload`` is JSON-serialisable."""

    title: str
    kind: str
    payload: Mapping[str, Any]
    stage: int = 0


@dataclass(frozen=True)
class Job:
    id: int
    title: str
    kind: str
    stage: int
    payload: Mapping[str, Any]
    state: str
    # Claims so far, including the current one.
    attempts: int
    max_attempts: int
    worker: str | None
    lease_expires: float | None
    error: str | None


_COLUMNS = "id, title, kind, stage, payload, state, attempts, max_attempts, worker, lease_expires, error"


def _job(row: Any) -> Job:
    jid, title, kind, stage, payload, state, attempts, max_attempts, worker, lease, error = row
    return Job(int(jid), str(title), str(kind), int(stage), json.loads(payload), str(state), int(attempts),
               int(max_attempts), worker, lease, error)


class JobQueue:
    """The queue database at ``path``; ``clock`` (unix seconds) times leases."""

    def __init__(self, path: Path, max_attempts: int = 3, clock: Callable[[], float] = time.time) -> None:
        self._db = Database(path, MIGRATIONS)
        self.max_attempts = max_attempts
        self._clock = clock

    def close(self) -> None:
        self._db.close()

    def _insert(self, conn: Any, jobs: Iterable[NewJob], now: float) -> list[int]:
        ids = []
        for job in jobs:
            cursor = conn.execute(
                "INSERT INTO jobs (title, kind, stage, payload, state, max_attempts, created, updated) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (job.title, job.kind, job.stage, json.dumps(dict(job.payload)), WAITING, self.max_attempts,
                 now, now))
            ids.append(int(cursor.lastrowid or 0))
        return ids

    @staticmethod
    def _promote(conn: Any, title: str, now: float) -> None:
        """Queue the title's waiting jobs whose lower stages are all done."""
        conn.execute(
            f"UPDATE jobs SET state = '{QUEUED}', updated = ? WHERE title = ? AND state = '{WAITING}' "
            f"AND NOT EXISTS (SELECT 1 FROM jobs AS j WHERE j.title = jobs.title AND j.stage < jobs.stage "
            f"AND j.state != '{DONE}')", (now, title))

    def enqueue(self, jobs: Iterable[NewJob]) -> list[int]:
        """Add jobs; each is queued at once unless a lower stage of its title is unfinished."""
        now = self._clock()
        with self._db.write() as conn:
            ids = self._insert(conn, list(jobs), now)
            for title in {t for (t,) in conn.execute(
                    f"SELECT title FROM jobs WHERE id IN ({','.join('?' * len(ids))})", ids)}:
                self._promote(conn, title, now)
        return ids

    def claim(self, worker: str, lease_seconds: float, kinds: Iterable[str] | None = None) -> Job | None:
        """Lease the oldest runnable job (queued, or leased to a worker whose lease ran out) to
        ``worker``; None when there is none. A lost job that used up its attempts is failed instead."""
        now = self._clock()
        kind_filter = ""
        args: list[object] = [now]
        if kinds is not None:
            wanted = list(kinds)
            kind_filter = f" AND kind IN ({','.join('?' * len(wanted))})"
            args += wanted
        with self._db.write() as conn:
            while True:
                row = conn.execute(
                    f"SELECT {_COLUMNS} FROM jobs WHERE (state = '{QUEUED}' OR (state = '{LEASED}' "
                    f"AND lease_expires < ?)){kind_filter} ORDER BY id LIMIT 1", args).fetchone()
                if row is None:
                    return None
                job = _job(row)
                if job.state == LEASED and job.attempts >= job.max_attempts:
                    self._fail(conn, job.id, f"worker {job.worker} stopped heartbeating "
                                             f"(attempt {job.attempts} of {job.max_attempts})", now)
                    continue
                conn.execute(f"UPDATE jobs SET state = '{LEASED}', worker = ?, lease_expires = ?, "
                             "attempts = attempts + 1, updated = ? WHERE id = ?",
                             (worker, now + lease_seconds, now, job.id))
                return Job(job.id, job.title, job.kind, job.stage, job.payload, LEASED, job.attempts + 1,
                           job.max_attempts, worker, now + lease_seconds, job.error)

    def heartbeat(self, job_id: int, worker: str, lease_seconds: float) -> bool:
        """Extend ``worker``'s lease on the job; False when the lease was lost (stop working on it)."""
        now = self._clock()
        with self._db.write() as conn:
            cursor = conn.execute(f"UPDATE jobs SET lease_expires = ?, updated = ? WHERE id = ? "
                                  f"AND worker = ? AND state = '{LEASED}'",
                                  (now + lease_seconds, now, job_id, worker))
            return cursor.rowcount > 0

    def complete(self, job_id: int, worker: str, follow_ups: Iterable[NewJob] = ()) -> bool:
        """Mark the job done and add ``follow_ups`` in the same transaction. False (and nothing
        changes) when ``worker`` no longer holds the lease."""
        now = self._clock()
        with self._db.write() as conn:
            cursor = conn.execute(f"UPDATE jobs SET state = '{DONE}', lease_expires = NULL, updated = ? "
                                  f"WHERE id = ? AND worker = ? AND state = '{LEASED}'",
                                  (now, job_id, worker))
            if cursor.rowcount == 0:
                return False
            self._insert(conn, list(follow_ups), now)
            (title,) = conn.execute("SELECT title FROM jobs WHERE id = ?", (job_id,)).fetchone()
            self._promote(conn, title, now)
        return True

    def _fail(self, conn: Any, job_id: int, error: str, now: float) -> None:
        conn.execute(f"UPDATE jobs SET state = '{FAILED}', error = ?, lease_expires = NULL, updated = ? "
                     "WHERE id = ?", (error, now, job_id))
        (title,) = conn.execute("SELECT title FROM jobs WHERE id = ?", (job_id,)).fetchone()
        conn.execute(f"UPDATE jobs SET state = '{CANCELLED}', updated = ? WHERE title = ? "
                     f"AND state IN ('{WAITING}', '{QUEUED}')", (now, title))

    def fail(self, job_id: int, worker: str, error: str) -> str:
        """Record a failed attempt: the job is queued again, or ``failed`` once out of attempts.
        Returns the job's new state ("" when ``worker`` no longer held the lease)."""
        now = self._clock()
        with self._db.write() as conn:
            row = conn.execute(f"SELECT attempts, max_attempts FROM jobs WHERE id = ? AND worker = ? "
                               f"AND state = '{LEASED}'", (job_id, worker)).fetchone()
            if row is None:
                return ""
            if int(row[0]) >= int(row[1]):
                self._fail(conn, job_id, error, now)
                return FAILED
            conn.execute(f"UPDATE jobs SET state = '{QUEUED}', error = ?, worker = NULL, "
                         "lease_expires = NULL, updated = ? WHERE id = ?", (error, now, job_id))
            return QUEUED

    def jobs(self, title: str) -> list[Job]:
        """Every job of ``title``, in the order they were added."""
        return [_job(r) for r in self._db.rows(f"SELECT {_COLUMNS} FROM jobs WHERE title = ? ORDER BY id",
                                               (title,))]

    def get(self, job_id: int) -> Job | None:
        rows = self._db.rows(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,))
        return _job(rows[0]) if rows else None

    def delete_title(self, title: str) -> int:
        """Forget every job of ``title``; returns how many there were."""
        with self._db.write() as conn:
            return int(conn.execute("DELETE FROM jobs WHERE title = ?", (title,)).rowcount)

    def ping(self) -> None:
        self._db.rows("SELECT 1 FROM schema_version LIMIT 1")

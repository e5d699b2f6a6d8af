"""A persistent job queue in SQL (SQLite or PostgreSQL) with leases: workers claim, heartbeat,
complete or fail jobs.

A claimed job is leased to one worker until ``lease_expires``; heartbeats extend the lease. A worker
that dies stops heartbeating, its lease runs out and the next ``claim`` hands the job to another
worker (that counts as an attempt). After ``max_attempts`` attempts a job is ``failed`` with its last
error, and the title's jobs that were still waiting are cancelled. Jobs of a title run in stages:
a job waits until every job of the title in a lower stage is done. Safe across threads and processes:
on SQLite writers take the database lock (BEGIN IMMEDIATE); on PostgreSQL ``claim`` takes the oldest
runnable row with ``FOR UPDATE SKIP LOCKED``, so concurrent workers never block on or share a job, and
changes to a title's jobs lock its rows first, so stage promotion cannot race.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .db import Database, table_exists

WAITING, QUEUED, LEASED = "waiting", "queued", "leased"
DONE, FAILED, CANCELLED = "done", "failed", "cancelled"

_jobs = sa.table("jobs", *(sa.column(c) for c in (
    "id", "title", "kind", "stage", "payload", "state", "attempts", "max_attempts", "worker", "lease_expires",
    "error")))


def _legacy_revision(conn: Connection) -> str | None:
    """A queue file made before Alembic (schema_version 1) has exactly the first revision."""
    if table_exists(conn, "schema_version") and table_exists(conn, "jobs"):
        return "jobs_0001"
    return None


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
               int(max_attempts), worker, None if lease is None else float(lease), error)


def _lock_title(conn: Connection, title: str) -> None:
    """Lock every job row of ``title`` (in id order, so two lockers cannot deadlock) until commit."""
    conn.execute(sa.select(_jobs.c.id).where(_jobs.c.title == title).order_by(_jobs.c.id).with_for_update())


class JobQueue:
    """The queue; ``clock`` (unix seconds) times leases. ``target``: a SQLite file, a database URL or
    a shared Database (closed by its owner then)."""

    def __init__(self, target: Path | str | Database, max_attempts: int = 3,
                 clock: Callable[[], float] = time.time) -> None:
        self._owned = not isinstance(target, Database)
        self._db = target if isinstance(target, Database) else Database(target)
        self.max_attempts = max_attempts
        self._clock = clock
        try:
            self._db.upgrade("jobs@head", _legacy_revision)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._owned:
            self._db.close()

    def _insert(self, conn: Connection, jobs: Iterable[NewJob], now: float) -> list[int]:
        insert = sa.text("INSERT INTO jobs (title, kind, stage, payload, state, max_attempts, created, "
                         "updated) VALUES (:title, :kind, :stage, :payload, :state, :max_attempts, :now, "
                         ":now) RETURNING id")
        ids = []
        for job in jobs:
            row = {"title": job.title, "kind": job.kind, "stage": job.stage, "state": WAITING,
                   "payload": json.dumps(dict(job.payload)), "max_attempts": self.max_attempts, "now": now}
            ids.append(int(conn.execute(insert, row).scalar_one()))
        return ids

    @staticmethod
    def _promote(conn: Connection, title: str, now: float) -> None:
        """Queue the title's waiting jobs whose lower stages are all done (its rows are locked)."""
        conn.execute(sa.text(
            "UPDATE jobs SET state = :queued, updated = :now WHERE title = :title AND state = :waiting "
            "AND NOT EXISTS (SELECT 1 FROM jobs AS j WHERE j.title = jobs.title AND j.stage < jobs.stage "
            "AND j.state != :done)"),
            {"queued": QUEUED, "now": now, "title": title, "waiting": WAITING, "done": DONE})

    def enqueue(self, jobs: Iterable[NewJob]) -> list[int]:
        """Add jobs; each is queued at once unless a lower stage of its title is unfinished."""
        batch = list(jobs)

        def work(conn: Connection) -> list[int]:
            now = self._clock()
            ids = self._insert(conn, batch, now)
            for title in sorted({job.title for job in batch}):
                _lock_title(conn, title)
                self._promote(conn, title, now)
            return ids

        return self._db.transact(work)

    def claim(self, worker: str, lease_seconds: float, kinds: Iterable[str] | None = None,
              title: str | None = None) -> Job | None:
        """Lease the oldest runnable job (queued, or leased to a worker whose lease ran out) to
        ``worker``, of one of ``kinds`` and of ``title`` when given; None when there is none. A lost
        job that used up its attempts is failed instead."""
        wanted = None if kinds is None else list(kinds)

        def work(conn: Connection) -> Job | None:
            now = self._clock()
            lost = sa.and_(_jobs.c.state == LEASED, _jobs.c.lease_expires < now)
            runnable = sa.or_(_jobs.c.state == QUEUED, lost)
            query = sa.select(sa.text(_COLUMNS)).select_from(_jobs).where(runnable)
            if wanted is not None:
                query = query.where(_jobs.c.kind.in_(wanted))
            if title is not None:
                query = query.where(_jobs.c.title == title)
            # SKIP LOCKED: a row another worker is claiming right now is passed over, not waited for.
            query = query.order_by(_jobs.c.id).limit(1).with_for_update(skip_locked=True)
            while True:
                row = conn.execute(query).first()
                if row is None:
                    return None
                job = _job(row)
                if job.state == LEASED and job.attempts >= job.max_attempts:
                    self._fail(conn, job, f"worker {job.worker} stopped heartbeating "
                                          f"(attempt {job.attempts} of {job.max_attempts})", now)
                    continue
                conn.execute(sa.text("UPDATE jobs SET state = :leased, worker = :worker, "
                                     "lease_expires = :until, attempts = attempts + 1, updated = :now "
                                     "WHERE id = :id"),
                             {"leased": LEASED, "worker": worker, "until": now + lease_seconds, "now": now,
                              "id": job.id})
                return Job(job.id, job.title, job.kind, job.stage, job.payload, LEASED, job.attempts + 1,
                           job.max_attempts, worker, now + lease_seconds, job.error)

        return self._db.transact(work)

    def heartbeat(self, job_id: int, worker: str, lease_seconds: float) -> bool:
        """Extend ``worker``'s lease on the job; False when the lease was lost (stop working on it)."""
        now = self._clock()
        with self._db.write() as conn:
            result = conn.execute(sa.text("UPDATE jobs SET lease_expires = :until, updated = :now "
                                          "WHERE id = :id AND worker = :worker AND state = :leased"),
                                  {"until": now + lease_seconds, "now": now, "id": job_id, "worker": worker,
                                   "leased": LEASED})
            return result.rowcount > 0

    def _held(self, conn: Connection, job_id: int, worker: str) -> Job | None:
        """The job if ``worker`` holds its lease, with the title's rows locked; None otherwise."""
        row = conn.execute(sa.text(f"SELECT {_COLUMNS} FROM jobs WHERE id = :id"), {"id": job_id}).first()
        if row is None:
            return None
        _lock_title(conn, str(row[1]))
        row = conn.execute(sa.text(f"SELECT {_COLUMNS} FROM jobs WHERE id = :id AND worker = :worker "
                                   "AND state = :leased"),
                           {"id": job_id, "worker": worker, "leased": LEASED}).first()
        return None if row is None else _job(row)

    def complete(self, job_id: int, worker: str, follow_ups: Iterable[NewJob] = ()) -> bool:
        """Mark the job done and add ``follow_ups`` in the same transaction. False (and nothing
        changes) when ``worker`` no longer holds the lease."""
        batch = list(follow_ups)

        def work(conn: Connection) -> bool:
            now = self._clock()
            job = self._held(conn, job_id, worker)
            if job is None:
                return False
            conn.execute(sa.text("UPDATE jobs SET state = :done, lease_expires = NULL, updated = :now "
                                 "WHERE id = :id"), {"done": DONE, "now": now, "id": job_id})
            self._insert(conn, batch, now)
            self._promote(conn, job.title, now)
            return True

        return self._db.transact(work)

    def _fail(self, conn: Connection, job: Job, error: str, now: float) -> None:
        _lock_title(conn, job.title)
        conn.execute(sa.text("UPDATE jobs SET state = :failed, error = :error, lease_expires = NULL, "
                             "updated = :now WHERE id = :id"),
                     {"failed": FAILED, "error": error, "now": now, "id": job.id})
        conn.execute(sa.text("UPDATE jobs SET state = :cancelled, updated = :now WHERE title = :title "
                             "AND state IN (:waiting, :queued)"),
                     {"cancelled": CANCELLED, "now": now, "title": job.title, "waiting": WAITING,
                      "queued": QUEUED})

    def fail(self, job_id: int, worker: str, error: str, retry: bool = True) -> str:
        """Record a failed attempt: the job is queued again, or ``failed`` once out of attempts (at
        once when ``retry`` is False: another attempt cannot help). Returns the job's new state
        ("" when ``worker`` no longer held the lease)."""

        def work(conn: Connection) -> str:
            now = self._clock()
            job = self._held(conn, job_id, worker)
            if job is None:
                return ""
            if job.attempts >= job.max_attempts or not retry:
                self._fail(conn, job, error, now)
                return FAILED
            conn.execute(sa.text("UPDATE jobs SET state = :queued, error = :error, worker = NULL, "
                                 "lease_expires = NULL, updated = :now WHERE id = :id"),
                         {"queued": QUEUED, "error": error, "now": now, "id": job_id})
            return QUEUED

        return self._db.transact(work)

    def jobs(self, title: str) -> list[Job]:
        """Every job of ``title``, in the order they were added."""
        rows = self._db.rows(f"SELECT {_COLUMNS} FROM jobs WHERE title = :title ORDER BY id",
                             {"title": title})
        return [_job(r) for r in rows]

    def get(self, job_id: int) -> Job | None:
        rows = self._db.rows(f"SELECT {_COLUMNS} FROM jobs WHERE id = :id", {"id": job_id})
        return _job(rows[0]) if rows else None

    def delete_title(self, title: str) -> int:
        """Forget every job of ``title``; returns how many there were."""
        with self._db.write() as conn:
            result = conn.execute(sa.text("DELETE FROM jobs WHERE title = :title"), {"title": title})
            return int(result.rowcount)

    def ping(self) -> None:
        self._db.rows("SELECT 1 FROM jobs LIMIT 1")

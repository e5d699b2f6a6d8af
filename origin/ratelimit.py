"""Sliding-window failure counting for login throttling, in the origin's shared database.

Every origin API copy given the same database counts the same failures, so a second copy does not
give an attacker a second allowance and a restart forgets nothing. Timestamps are wall-clock
seconds: they are compared across processes and hosts (a few seconds of skew between copies is
nothing against a window of minutes).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .db import Database

# Limits: failures tolerated per key within the window, e.g. {"account:ann": 5, "ip:192.0.2.7": 5}.
Limits = Mapping[str, int]


def subject(key: str) -> str:
    """What is stored for ``key``: a digest, so a password typed into the username field (or a
    megabyte of junk) never lands in the table."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class FailureLimiter:
    """Refuses a key once it has its maximum of failures within the last ``window`` seconds.

    Every method blocks on the database: call it from a worker thread. Safe across threads and
    processes. The table stays bounded: each key keeps at most its maximum of rows (older ones
    cannot matter), and every recorded failure deletes all rows that have left the window.
    """

    def __init__(self, db: Database, window: float, clock: Callable[[], float] = time.time) -> None:
        self.window = window
        self._db = db
        self._clock = clock

    def retry_after(self, limits: Limits) -> float:
        """Seconds until every key of ``limits`` may try again; 0 means it may try now."""
        now = self._clock()
        wait = 0.0
        with self._db.read() as conn:
            for key, maximum in limits.items():
                stamps = conn.execute(sa.text(
                    "SELECT failed_at FROM login_failures WHERE subject = :subject AND failed_at > :cutoff "
                    "ORDER BY failed_at DESC LIMIT :maximum"),
                    {"subject": subject(key), "cutoff": now - self.window, "maximum": maximum}).all()
                if len(stamps) >= maximum:
                    # Allowed again once the oldest of the last ``maximum`` failures ages out.
                    wait = max(wait, float(stamps[-1][0]) + self.window - now)
        return wait

    def record_failure(self, limits: Limits) -> None:
        """Count one failure against every key of ``limits``."""
        now = self._clock()

        def record(conn: Connection) -> None:
            for key, maximum in limits.items():
                params = {"subject": subject(key), "now": now, "maximum": maximum}
                conn.execute(sa.text("INSERT INTO login_failures (subject, failed_at) "
                                     "VALUES (:subject, :now)"), params)
                # Only the newest ``maximum`` failures of a key decide its wait.
                conn.execute(sa.text(
                    "DELETE FROM login_failures WHERE subject = :subject AND id NOT IN ("
                    "SELECT id FROM login_failures WHERE subject = :subject "
                    "ORDER BY failed_at DESC, id DESC LIMIT :maximum)"), params)
            conn.execute(sa.text("DELETE FROM login_failures WHERE failed_at <= :cutoff"),
                         {"cutoff": now - self.window})

        self._db.transact(record)

    def reset(self, key: str) -> None:
        """Forget ``key``'s failures (after a successful login)."""
        with self._db.write() as conn:
            conn.execute(sa.text("DELETE FROM login_failures WHERE subject = :subject"),
                         {"subject": subject(key)})

    def count(self) -> int:
        """Rows stored (all keys, including expired ones not yet pruned): for tests and operators."""
        return int(self._db.rows("SELECT COUNT(*) FROM login_failures")[0][0])

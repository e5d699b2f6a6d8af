"""LeaderLease: one replica at a time holds a named lease in the shared database and renews it.

The holder is the one replica that plans fills (and applies schedules to manifests), so plans are
never made twice. A lease is a row (name, holder, address, expiry): a replica takes it when it is
free, expired or already its own, in one conditional UPSERT, so two replicas can never both win.
The holder renews it every third of its duration; a replica that cannot renew (database gone)
stops acting as leader when its own expiry passes, and another replica takes over once the row
has expired. Times come from the fleet clock (``FleetRegistry.fleet_now_ms``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .db import Database
from .store import open_database

log = logging.getLogger(__name__)

PLANNER = "fill-planner"


@dataclass(frozen=True, slots=True)
class Lease:
    """Who holds a lease (replica id), where it answers HTTP, and until when (unix ms)."""

    holder: str
    address: str
    expires_unix_ms: int


class LeaseStore(Protocol):
    def claim(self, name: str, lease: Lease, now_ms: int) -> Lease:
        """Take or renew ``name`` for ``lease.holder`` when it is free, expired at ``now_ms`` or
        already theirs; returns the lease as it stands afterwards (maybe another holder's)."""
        ...

    def release(self, name: str, holder: str) -> None:
        """Give ``name`` up at once if ``holder`` holds it (a clean shutdown)."""
        ...


class MemoryLeaseStore:
    """Leases in memory; for tests and a single process."""

    def __init__(self) -> None:
        self.leases: dict[str, Lease] = {}

    def claim(self, name: str, lease: Lease, now_ms: int) -> Lease:
        current = self.leases.get(name)
        if current is None or current.holder == lease.holder or current.expires_unix_ms < now_ms:
            self.leases[name] = lease
        return self.leases[name]

    def release(self, name: str, holder: str) -> None:
        current = self.leases.get(name)
        if current is not None and current.holder == holder:
            del self.leases[name]


class SqlLeaseStore:
    """Leases in the control plane's database (table ``leases``). Safe across threads and processes."""

    def __init__(self, target: Path | str | Database) -> None:
        self._owned = not isinstance(target, Database)
        self._db = open_database(target)

    def claim(self, name: str, lease: Lease, now_ms: int) -> Lease:
        def work(conn: Connection) -> Lease:
            conn.execute(sa.text(
                "INSERT INTO leases (name, holder, address, expires_unix_ms) "
                "VALUES (:name, :holder, :address, :expires) ON CONFLICT (name) DO UPDATE SET "
                "holder = excluded.holder, address = excluded.address, "
                "expires_unix_ms = excluded.expires_unix_ms "
                "WHERE leases.holder = excluded.holder OR leases.expires_unix_ms < :now"),
                {"name": name, "holder": lease.holder, "address": lease.address,
                 "expires": lease.expires_unix_ms, "now": now_ms})
            holder, address, expires = conn.execute(sa.text(
                "SELECT holder, address, expires_unix_ms FROM leases WHERE name = :name"),
                {"name": name}).one()
            return Lease(str(holder), str(address), int(expires))

        return self._db.transact(work)

    def release(self, name: str, holder: str) -> None:
        with self._db.write() as conn:
            conn.execute(sa.text("DELETE FROM leases WHERE name = :name AND holder = :holder"),
                         {"name": name, "holder": holder})

    def close(self) -> None:
        if self._owned:
            self._db.close()


class LeaderLease:
    """This replica's view of one lease. Use from one event loop; calls block on the database briefly."""

    def __init__(self, store: LeaseStore, name: str, holder: str, address: str, duration_ms: int,
                 now_ms: Callable[[], int]) -> None:
        self._store = store
        self._name = name
        self._holder = holder
        self._address = address
        self._duration_ms = duration_ms
        self._now_ms = now_ms
        # The lease as last seen, and until when we hold it by our own clock (0: not ours).
        self._current: Lease | None = None
        self._ours_until = 0

    @property
    def holder_id(self) -> str:
        return self._holder

    @property
    def duration_ms(self) -> int:
        return self._duration_ms

    def holding(self) -> bool:
        """True while this replica holds the lease (by its own clock, never past the expiry)."""
        return self._now_ms() < self._ours_until

    def leader(self) -> Lease | None:
        """The lease as last seen (any holder's); None before the first claim or once it expired."""
        current = self._current
        if current is None or current.expires_unix_ms < self._now_ms():
            return None
        return current

    def renew(self) -> bool:
        """Claim or renew the lease now; returns :meth:`holding`. Raises on database errors (the
        lease then lapses by itself)."""
        now = self._now_ms()
        wanted = Lease(self._holder, self._address, now + self._duration_ms)
        current = self._store.claim(self._name, wanted, now)
        was = self.holding()
        self._current = current
        self._ours_until = current.expires_unix_ms if current.holder == self._holder else 0
        if self.holding() != was:
            if was:
                log.warning("lost the leader lease", extra={"lease": self._name, "holder": current.holder})
            else:
                log.info("took the leader lease", extra={"lease": self._name, "holder": self._holder})
        return self.holding()

    def release(self) -> None:
        """Give the lease up (at shutdown), so another replica need not wait for it to expire."""
        if self._ours_until:
            self._ours_until = 0
            self._current = None
            self._store.release(self._name, self._holder)


async def keep_lease(lease: LeaderLease, on_change: Callable[[bool], None] | None = None, *,
                     holding: bool = False) -> None:
    """Renew ``lease`` every third of its duration until cancelled; ``on_change(holding)`` is called
    whenever holding changes (from ``holding``, what the caller knows already). Database errors are
    logged and retried at the next renewal."""
    while True:
        await asyncio.sleep(lease.duration_ms / 3000)
        try:
            lease.renew()
        except Exception as exc:
            log.warning("cannot renew the leader lease", extra={"error": str(exc)[:300]})
        now_holding = lease.holding()
        if now_holding != holding and on_change is not None:
            on_change(now_holding)
        holding = now_holding

"""FleetRegistry: every appliance, its health, and the versioned fleet snapshot steering watches.

Versioning rule: a new :class:`FleetState` version is published on every change steering can act
on — a registration that adds or changes an appliance, a health transition, a changed state or
title list. Load numbers (disk used, egress, connections) ride along in snapshots, but a change
of load alone publishes at most once per ``load_publish_interval_ms`` (during :meth:`tick`); a
plain heartbeat that changes nothing publishes nothing.

Replicas: every control-plane process on one database keeps one of these, and they agree through
the store (see ``store.py``). Versions are handed out by the database, and the snapshot at a
version is exactly the statuses published up to it, so every replica serves the same content
under the same version and versions never go backwards, across restarts too. Registrations and
visible changes are written at once; plain heartbeats only mark their record dirty and
:meth:`tick` writes them (with their sign of life) in one transaction per sweep, then reads back
what the other replicas wrote. Silence is judged against the stored sign of life, by whichever
replica sweeps first; the write is conditional, so a fresher heartbeat stored by another replica
wins. Times are the fleet clock: this process's wall clock corrected to the database server's
when the store reports it (PostgreSQL), so replicas on several hosts judge alike.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import replace

from .clock import Clock
from .health import HealthPolicy, HealthTransition, down_cutoff_ms, judge_report
from .model import (
    ApplianceRecord,
    ApplianceStatus,
    FleetState,
    Health,
    HeartbeatReport,
    Registration,
)
from .store import RegistryStore, RegistryView, sign_of_life_ms

log = logging.getLogger(__name__)

# Called with every newly published snapshot, synchronously, from the caller of the change.
Listener = Callable[[FleetState], None]


class FleetRegistry:
    """The registry aggregate. Not safe across threads; use from one event loop (no awaits inside;
    its store calls block briefly)."""

    def __init__(
        self,
        store: RegistryStore,
        policy: HealthPolicy,
        clock: Clock,
        *,
        load_publish_interval_ms: int = 5000,
    ) -> None:
        self._store = store
        self._clock = clock
        self._policy = policy
        self._load_interval_ms = load_publish_interval_ms
        self._offset_ms = 0  # database clock minus ours, when the store reports its clock
        self._records: dict[str, ApplianceRecord] = {}
        self._published: dict[str, ApplianceStatus] = {}
        self._dirty: set[str] = set()
        self._load_pending = False
        self._listeners: list[Listener] = []
        self._revision = 0
        self._version = 0
        self._generated_ms = 0
        self._last_publish_ms = clock.monotonic_ms()
        self._snapshot = FleetState(0, (), 0)
        self._absorb(store.read())
        # A (re)started replica publishes a new version. Appliances stored before statuses were
        # (an older control plane) are DOWN until they show a sign of life; so is any appliance
        # silent for down_after_ms, which the sweep finds.
        unpublished = [self._status(r, Health.DOWN) for i, r in self._records.items()
                       if i not in self._published]
        self._write([], unpublished, publish=True)
        self._sweep()

    # -- reading -------------------------------------------------------------------------------

    @property
    def snapshot(self) -> FleetState:
        """The latest published fleet state (immutable)."""
        return self._snapshot

    @property
    def policy(self) -> HealthPolicy:
        return self._policy

    def __contains__(self, appliance_id: object) -> bool:
        return appliance_id in self._records

    def __len__(self) -> int:
        return len(self._records)

    def record(self, appliance_id: str) -> ApplianceRecord:
        """The latest record known here. Raises KeyError for an unknown appliance."""
        return self._records[appliance_id]

    def health(self, appliance_id: str) -> Health:
        """Health as published. Raises KeyError when unknown."""
        return self._published[appliance_id].health

    def fleet_now_ms(self) -> int:
        """The fleet clock (unix ms): ours, corrected to the database server's when known."""
        return self._clock.wall_ms() + self._offset_ms

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener`` with every snapshot published from now on."""
        self._listeners.append(listener)

    # -- changes -------------------------------------------------------------------------------

    def register(self, registration: Registration) -> bool:
        """Add or update an appliance and count it as alive. Returns True when it was new.

        Re-registering with identical details is safe and publishes nothing unless health changes.
        """
        ident = registration.appliance_id
        old = self._records.get(ident)
        now = self.fleet_now_ms()
        if old is None:
            record = ApplianceRecord(registration=registration, registered_unix_ms=now)
        else:
            record = replace(old, registration=registration, registered_unix_ms=now)
        self._records[ident] = record
        self._dirty.discard(ident)
        log.info(
            "appliance registered",
            extra={"appliance": ident, "site": registration.site, "http_url": registration.http_url,
                   "new": old is None},
        )
        status = self._status(record, self._judge(record))
        previous = self._published.get(ident)
        visible = previous is None or _visible(previous) != _visible(status)
        self._write([record], [status] if visible else [], publish=False)
        return old is None

    def heartbeat(self, report: HeartbeatReport) -> bool:
        """Record a heartbeat. Returns False (changing nothing) when the appliance is unknown,
        here and in the database (it may have registered with another replica a moment ago)."""
        ident = report.appliance_id
        if ident not in self._records:
            self.sync()
        old = self._records.get(ident)
        if old is None:
            return False
        record = replace(
            old,
            state=report.state,
            healthy_reported=report.healthy,
            load=report.load,
            titles=report.titles,
            fill=report.fill,
            last_heartbeat_unix_ms=self.fleet_now_ms(),
        )
        self._records[ident] = record
        status = self._status(record, self._judge(record))
        previous = self._published.get(ident)
        if previous is None or _visible(previous) != _visible(status):
            self._dirty.discard(ident)
            self._write([record], [status], publish=False)
            return True
        self._dirty.add(ident)
        if _load(previous) != _load(status):
            self._load_pending = True
        return True

    def tick(self) -> list[HealthTransition]:
        """Write dirty records (publishing pending load changes when due), read what the other
        replicas wrote, and mark silent appliances DOWN. Call every sweep interval.

        Returns the DOWN transitions this sweep published.
        """
        since_publish = self._clock.monotonic_ms() - self._last_publish_ms
        due = self._load_pending and since_publish >= self._load_interval_ms
        loads = []
        if due:
            for ident, status in self._published.items():
                record = self._records.get(ident)
                if record is not None and status.health is not Health.DOWN:
                    fresh = self._status(record, status.health)
                    if _load(fresh) != _load(status):
                        loads.append(fresh)
            self._load_pending = False
        self.flush(loads)
        return self._sweep()

    def sync(self) -> None:
        """Read what the other replicas wrote since the last look, publishing their versions."""
        started = self._clock.wall_ms()
        self._absorb(self._store.read(self._revision, self._version), started)

    def flush(self, statuses: Iterable[ApplianceStatus] = ()) -> None:
        """Write every record changed since the last flush (and publish ``statuses`` with them)."""
        written = sorted(self._dirty)
        self._write([self._records[i] for i in written], list(statuses), publish=False)
        self._dirty.difference_update(written)  # kept when the write failed: the next sweep retries

    def close(self) -> None:
        """Flush and close the store. The registry must not be used afterwards."""
        self.flush()
        self._store.close()

    # -- internals -----------------------------------------------------------------------------

    def _sweep(self) -> list[HealthTransition]:
        cutoff = down_cutoff_ms(self._policy, self.fleet_now_ms())
        silent = [i for i, s in self._published.items() if s.health is not Health.DOWN
                  and i in self._records and sign_of_life_ms(self._records[i]) <= cutoff]
        if not silent:
            return []
        started = self._clock.wall_ms()
        view = self._store.mark_down(silent, cutoff, since_revision=self._revision,
                                     since_version=self._version, now_ms=self.fleet_now_ms())
        return [t for t in self._absorb(view, started) if t.after is Health.DOWN]

    def _write(self, records: list[ApplianceRecord], statuses: list[ApplianceStatus], *,
               publish: bool) -> None:
        started = self._clock.wall_ms()
        view = self._store.write(records, statuses, publish=publish, since_revision=self._revision,
                                 since_version=self._version, now_ms=self.fleet_now_ms())
        self._absorb(view, started)

    def _absorb(self, view: RegistryView, started_ms: int | None = None) -> list[HealthTransition]:
        """Take in what the store answered; publish its version when newer. Returns the health
        transitions it brought."""
        if view.database_now_ms is not None:
            # The database answered between started and now: assume halfway.
            now = self._clock.wall_ms()
            started = started_ms if started_ms is not None else now
            self._offset_ms = view.database_now_ms - (started + now) // 2
        for record in view.records:
            ident = record.appliance_id
            mine = self._records.get(ident)
            theirs = sign_of_life_ms(record)
            ours = -1 if mine is None else sign_of_life_ms(mine)
            if theirs > ours or (theirs == ours and ident not in self._dirty):
                self._records[ident] = record
                self._dirty.discard(ident)
        self._revision = max(self._revision, view.revision)
        if view.version <= self._version:
            return []
        transitions = []
        for status in view.statuses:
            before = self._published.get(status.appliance_id)
            if before is not None and before.health is not status.health:
                transitions.append(HealthTransition(status.appliance_id, before.health, status.health))
            self._published[status.appliance_id] = status
        self._version = view.version
        self._snapshot = FleetState(
            version=view.version,
            appliances=tuple(self._published[i] for i in sorted(self._published)),
            generated_unix_ms=view.generated_unix_ms,
        )
        self._last_publish_ms = self._clock.monotonic_ms()
        for transition in transitions:
            _log_transition(transition)
        for listener in self._listeners:
            listener(self._snapshot)
        return transitions

    def _judge(self, record: ApplianceRecord) -> Health:
        return judge_report(self._policy, record.state, record.healthy_reported, record.load.error_ratio)

    def _status(self, record: ApplianceRecord, health: Health) -> ApplianceStatus:
        reg = record.registration
        return ApplianceStatus(
            appliance_id=reg.appliance_id,
            site=reg.site,
            http_url=reg.http_url,
            capacity_bytes=reg.capacity_bytes,
            client_prefixes=reg.client_prefixes,
            location=reg.location,
            health=health,
            state=record.state,
            disk_used_bytes=record.load.disk_used_bytes,
            egress_bytes_per_second=record.load.egress_bytes_per_second,
            connections=record.load.connections,
            titles=record.titles,
            last_heartbeat_unix_ms=record.last_heartbeat_unix_ms or 0,
        )


def _visible(status: ApplianceStatus) -> ApplianceStatus:
    """What steering acts on: the status without load numbers and heartbeat time."""
    return replace(status, disk_used_bytes=0, egress_bytes_per_second=0, connections=0,
                   last_heartbeat_unix_ms=0)


def _load(status: ApplianceStatus) -> tuple[int, int, int]:
    """The load numbers a snapshot carries."""
    return (status.disk_used_bytes, status.egress_bytes_per_second, status.connections)


def _log_transition(t: HealthTransition) -> None:
    if t.after is Health.DOWN:
        message = "appliance down"
    elif t.before is Health.DOWN:
        message = "appliance up"
    else:
        message = "appliance health changed"
    level = logging.WARNING if t.after in (Health.DOWN, Health.DEGRADED) else logging.INFO
    log.log(level, message, extra={"appliance": t.appliance_id, "before": t.before.value,
                                   "after": t.after.value})


async def sweep_forever(
    registry: FleetRegistry, interval_ms: int, on_sweep: Callable[[], None] | None = None
) -> None:
    """Run :meth:`FleetRegistry.tick` every ``interval_ms`` until cancelled.

    A failing tick (e.g. a full disk under SQLite, the database unreachable) is logged and retried
    next time, never fatal; ``on_sweep`` is called after each successful one.
    """
    while True:
        try:
            registry.tick()
        except Exception:
            log.exception("registry sweep failed")
        else:
            if on_sweep is not None:
                on_sweep()
        await asyncio.sleep(interval_ms / 1000)

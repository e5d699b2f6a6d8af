"""FleetRegistry: every appliance, its health, and the versioned fleet snapshot steering watches.

Versioning rule: a new :class:`FleetState` version is published on every change steering can act
on — a registration that adds or changes an appliance, a health transition, a changed state or
title list. Load numbers (disk used, egress, connections) ride along in snapshots, but a change
of load alone publishes at most once per ``load_publish_interval_ms`` (during :meth:`tick`); a
plain heartbeat that changes nothing publishes nothing. Versions keep increasing across restarts
(the last one is persisted), so a watcher never sees a version go backwards.

Persistence: registrations are written at once; heartbeats only mark their record dirty and
:meth:`tick` writes all dirty records in one transaction, which bounds SQLite writes to one per
sweep however large the fleet. On restart every stored appliance is DOWN until it heartbeats.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace

from .clock import Clock
from .health import HealthMonitor, HealthPolicy, HealthTransition, judge_report
from .model import (
    ApplianceRecord,
    ApplianceStatus,
    FleetState,
    Health,
    HeartbeatReport,
    Registration,
)
from .store import RegistryStore

log = logging.getLogger(__name__)

# Called with every newly published snapshot, synchronously, from the caller of the change.
Listener = Callable[[FleetState], None]


class FleetRegistry:
    """The registry aggregate. Not safe across threads; use from one event loop (no awaits inside)."""

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
        self._monitor = HealthMonitor(policy, clock)
        self._load_interval_ms = load_publish_interval_ms
        self._records: dict[str, ApplianceRecord] = {}
        for record in store.load_records():
            self._records[record.appliance_id] = record
            # Nothing proves a stored appliance is alive until it heartbeats again.
            self._monitor.track_down(record.appliance_id)
        self._dirty: set[str] = set()
        self._load_pending = False
        self._listeners: list[Listener] = []
        self._version = store.load_version()
        self._last_publish_ms = clock.monotonic_ms()
        self._snapshot = self._publish()

    # -- reading -------------------------------------------------------------------------------

    @property
    def snapshot(self) -> FleetState:
        """The latest published fleet state (immutable)."""
        return self._snapshot

    @property
    def policy(self) -> HealthPolicy:
        return self._monitor.policy

    def __contains__(self, appliance_id: object) -> bool:
        return appliance_id in self._records

    def __len__(self) -> int:
        return len(self._records)

    def record(self, appliance_id: str) -> ApplianceRecord:
        """The stored record. Raises KeyError for an unknown appliance."""
        return self._records[appliance_id]

    def health(self, appliance_id: str) -> Health:
        """Current health (may be newer than the snapshot's). Raises KeyError when unknown."""
        return self._monitor.health(appliance_id)

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
        now = self._clock.wall_ms()
        if old is None:
            record = ApplianceRecord(registration=registration, registered_unix_ms=now)
        else:
            record = replace(old, registration=registration, registered_unix_ms=now)
        self._records[ident] = record
        self._store.save_records([record])
        self._dirty.discard(ident)
        log.info(
            "appliance registered",
            extra={"appliance": ident, "site": registration.site, "http_url": registration.http_url,
                   "new": old is None},
        )
        transition = self._monitor.observe(ident, self._judge(record))
        if transition is not None and old is not None:
            _log_transition(transition)
        if old is None or old.registration != registration or transition is not None:
            self._publish()
        return old is None

    def heartbeat(self, report: HeartbeatReport) -> bool:
        """Record a heartbeat. Returns False (changing nothing) when the appliance is unknown."""
        ident = report.appliance_id
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
            last_heartbeat_unix_ms=self._clock.wall_ms(),
        )
        self._records[ident] = record
        self._dirty.add(ident)
        transition = self._monitor.observe(ident, self._judge(record))
        if transition is not None:
            _log_transition(transition)
        if transition is not None or old.state != record.state or old.titles != record.titles:
            self._publish()
        elif _visible_load(old) != _visible_load(record):
            self._load_pending = True
        return True

    def tick(self) -> list[HealthTransition]:
        """Mark silent appliances DOWN, publish pending load changes when due, write dirty records.

        Call every sweep interval. Returns the DOWN transitions found.
        """
        transitions = self._monitor.sweep()
        for transition in transitions:
            _log_transition(transition)
        load_due = (
            self._load_pending
            and self._clock.monotonic_ms() - self._last_publish_ms >= self._load_interval_ms
        )
        if transitions or load_due:
            self._publish()
        self.flush()
        return transitions

    def flush(self) -> None:
        """Write every record changed since the last flush."""
        if self._dirty:
            self._store.save_records(self._records[i] for i in sorted(self._dirty))
            self._dirty.clear()

    def close(self) -> None:
        """Flush and close the store. The registry must not be used afterwards."""
        self.flush()
        self._store.close()

    # -- internals -----------------------------------------------------------------------------

    def _judge(self, record: ApplianceRecord) -> Health:
        return judge_report(self._monitor.policy, record.state, record.healthy_reported,
                            record.load.error_ratio)

    def _publish(self) -> FleetState:
        self._version += 1
        self._store.save_version(self._version)
        self._snapshot = FleetState(
            version=self._version,
            appliances=tuple(self._status(self._records[i]) for i in sorted(self._records)),
            generated_unix_ms=self._clock.wall_ms(),
        )
        self._last_publish_ms = self._clock.monotonic_ms()
        self._load_pending = False
        for listener in self._listeners:
            listener(self._snapshot)
        return self._snapshot

    def _status(self, record: ApplianceRecord) -> ApplianceStatus:
        reg = record.registration
        return ApplianceStatus(
            appliance_id=reg.appliance_id,
            site=reg.site,
            http_url=reg.http_url,
            capacity_bytes=reg.capacity_bytes,
            client_prefixes=reg.client_prefixes,
            location=reg.location,
            health=self._monitor.health(reg.appliance_id),
            state=record.state,
            disk_used_bytes=record.load.disk_used_bytes,
            egress_bytes_per_second=record.load.egress_bytes_per_second,
            connections=record.load.connections,
            titles=record.titles,
            last_heartbeat_unix_ms=record.last_heartbeat_unix_ms or 0,
        )


def _visible_load(record: ApplianceRecord) -> tuple[int, int, int]:
    """The load numbers a snapshot carries."""
    load = record.load
    return (load.disk_used_bytes, load.egress_bytes_per_second, load.connections)


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

    A failing tick (e.g. a full disk under SQLite) is logged and retried next time, never fatal;
    ``on_sweep`` is called after each successful one.
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

"""FleetRegistry: versioning rules, health through the registry, and SQL persistence (SQLite and
PostgreSQL)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from control_plane.health import HealthPolicy
from control_plane.model import (
    ApplianceState,
    FillProgress,
    FleetState,
    Health,
    HeartbeatReport,
    LoadReport,
    Location,
    Registration,
)
from control_plane.registry import FleetRegistry
from control_plane.store import MemoryRegistryStore, RegistryStore, SqlRegistryStore

from .fakes import FakeClock

POLICY = HealthPolicy(down_after_ms=3000, degraded_error_ratio=0.05)
LOAD_INTERVAL_MS = 5000


def registration(appliance_id: str = "a1", site: str = "ams", **changes: Any) -> Registration:
    base = Registration(
        appliance_id=appliance_id,
        site=site,
        http_url="http://127.0.0.1:8081",
        capacity_bytes=10**12,
        client_prefixes=("10.0.0.0/8", "2001:db8::/32"),
        location=Location(52.37, 4.9),
    )
    return replace(base, **changes)


def beat(appliance_id: str = "a1", **changes: Any) -> HeartbeatReport:
    return HeartbeatReport(appliance_id=appliance_id, **changes)


def health_of(registry: FleetRegistry, appliance_id: str) -> Health:
    """Health in the latest published snapshot."""
    status = registry.snapshot.get(appliance_id)
    assert status is not None
    return status.health


class Recorder:
    def __init__(self) -> None:
        self.states: list[FleetState] = []

    def __call__(self, state: FleetState) -> None:
        self.states.append(state)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make(store: RegistryStore, clock: FakeClock) -> tuple[FleetRegistry, Recorder]:
    registry = FleetRegistry(store, POLICY, clock, load_publish_interval_ms=LOAD_INTERVAL_MS)
    recorder = Recorder()
    registry.add_listener(recorder)
    return registry, recorder


@pytest.fixture
def reg(clock: FakeClock) -> tuple[FleetRegistry, Recorder]:
    return make(MemoryRegistryStore(), clock)


def test_register_publishes_a_healthy_appliance(reg: tuple[FleetRegistry, Recorder]) -> None:
    registry, published = reg
    start = registry.snapshot.version
    assert registry.register(registration()) is True
    assert [s.version for s in published.states] == [start + 1]
    status = registry.snapshot.get("a1")
    assert status is not None
    assert status.health is Health.HEALTHY
    assert status.client_prefixes == ("10.0.0.0/8", "2001:db8::/32")
    assert status.location == Location(52.37, 4.9)


def test_identical_reregistration_publishes_nothing(reg: tuple[FleetRegistry, Recorder]) -> None:
    registry, published = reg
    registry.register(registration())
    assert registry.register(registration()) is False
    assert len(published.states) == 1
    registry.register(registration(client_prefixes=("192.0.2.0/24",)))
    assert len(published.states) == 2
    status = registry.snapshot.get("a1")
    assert status is not None and status.client_prefixes == ("192.0.2.0/24",)


def test_plain_heartbeat_publishes_nothing(reg: tuple[FleetRegistry, Recorder], clock: FakeClock) -> None:
    registry, published = reg
    registry.register(registration())
    for _ in range(5):
        clock.advance(1000)
        assert registry.heartbeat(beat()) is True
        registry.tick()
    assert len(published.states) == 1
    assert registry.health("a1") is Health.HEALTHY


def test_titles_state_and_health_changes_publish(reg: tuple[FleetRegistry, Recorder]) -> None:
    registry, published = reg
    registry.register(registration())
    registry.heartbeat(beat(titles=("big-buck-bunny",)))
    assert registry.snapshot.appliances[0].titles == ("big-buck-bunny",)
    registry.heartbeat(beat(titles=("big-buck-bunny",), healthy=False))
    assert health_of(registry, "a1") is Health.DEGRADED
    registry.heartbeat(beat(titles=("big-buck-bunny",), load=LoadReport(error_ratio=0.5)))
    assert len(published.states) == 3  # still degraded (error ratio), nothing new to publish
    registry.heartbeat(beat(titles=("big-buck-bunny",), state=ApplianceState.DRAINING))
    assert health_of(registry, "a1") is Health.DRAINING
    assert registry.snapshot.appliances[0].state is ApplianceState.DRAINING
    versions = [s.version for s in published.states]
    assert versions == sorted(set(versions)) and len(versions) == 4


def test_load_only_changes_are_throttled(reg: tuple[FleetRegistry, Recorder], clock: FakeClock) -> None:
    registry, published = reg
    registry.register(registration())
    registry.heartbeat(beat(load=LoadReport(connections=7, egress_bytes_per_second=1000)))
    assert len(published.states) == 1
    assert registry.snapshot.appliances[0].connections == 0  # snapshot content is fixed per version
    clock.advance(LOAD_INTERVAL_MS - 1)
    registry.heartbeat(beat(load=LoadReport(connections=9, egress_bytes_per_second=1000)))
    registry.tick()
    assert len(published.states) == 1
    clock.advance(1)
    registry.tick()
    assert len(published.states) == 2
    assert registry.snapshot.appliances[0].connections == 9
    for _ in range(2 * LOAD_INTERVAL_MS // 1000):  # same load again: nothing pending any more
        clock.advance(1000)
        registry.heartbeat(beat(load=LoadReport(connections=9, egress_bytes_per_second=1000)))
        registry.tick()
    assert len(published.states) == 2


def test_unknown_heartbeat_is_refused_without_change(reg: tuple[FleetRegistry, Recorder]) -> None:
    registry, published = reg
    assert registry.heartbeat(beat("ghost")) is False
    assert "ghost" not in registry
    assert published.states == []


def test_silence_makes_an_appliance_down_and_publishes(
    reg: tuple[FleetRegistry, Recorder], clock: FakeClock
) -> None:
    registry, published = reg
    registry.register(registration("a1"))
    registry.register(registration("a2", site="fra"))
    clock.advance(2000)
    registry.heartbeat(beat("a2"))
    clock.advance(1000)
    transitions = registry.tick()
    assert [t.appliance_id for t in transitions] == ["a1"]
    health = {a.appliance_id: a.health for a in registry.snapshot.appliances}
    assert health == {"a1": Health.DOWN, "a2": Health.HEALTHY}
    assert published.states[-1] is registry.snapshot
    assert registry.snapshot.health_counts()[Health.DOWN] == 1
    assert registry.snapshot.site_health_counts() == {("ams", Health.DOWN): 1, ("fra", Health.HEALTHY): 1}


def test_sql_registry_survives_reopen(db_target: Path | str, clock: FakeClock) -> None:
    db = db_target
    registry, _ = make(SqlRegistryStore(db), clock)
    registry.register(registration("a1"))
    registry.register(registration("a2", site="fra", location=None, client_prefixes=()))
    clock.advance(500)
    registry.heartbeat(beat("a1", titles=("t-one", "t-two"), state=ApplianceState.ACTIVE,
                            load=LoadReport(disk_used_bytes=123, connections=4, hits=10, misses=2),
                            fill=FillProgress(fill_version=3, bytes_done=5, bytes_total=9)))
    heartbeat_at = clock.wall_ms()
    last_version = registry.snapshot.version
    # No tick: close() must write the heartbeat's dirty record.
    registry.close()

    clock.advance(60_000)
    reopened, published = make(SqlRegistryStore(db), clock)
    assert len(reopened) == 2
    assert reopened.snapshot.version > last_version
    assert {a.appliance_id: a.health for a in reopened.snapshot.appliances} == {
        "a1": Health.DOWN, "a2": Health.DOWN}
    a1 = reopened.record("a1")
    assert a1.registration == registration("a1")
    assert a1.titles == ("t-one", "t-two")
    assert a1.load == LoadReport(disk_used_bytes=123, connections=4, hits=10, misses=2)
    assert a1.fill == FillProgress(fill_version=3, bytes_done=5, bytes_total=9)
    assert a1.last_heartbeat_unix_ms == heartbeat_at
    assert reopened.record("a2").registration.location is None

    # A heartbeat from an appliance known only from the DB is accepted and brings it back.
    assert reopened.heartbeat(beat("a1", titles=("t-one", "t-two"))) is True
    status = reopened.snapshot.get("a1")
    assert status is not None and status.health is Health.HEALTHY
    assert len(published.states) == 1
    reopened.close()


def test_versions_keep_increasing_across_reopens(db_target: Path | str, clock: FakeClock) -> None:
    db = db_target
    seen = []
    for _ in range(3):
        registry, _ = make(SqlRegistryStore(db), clock)
        seen.append(registry.snapshot.version)
        registry.register(registration(f"a{len(seen)}"))
        seen.append(registry.snapshot.version)
        registry.close()
    assert seen == sorted(set(seen))


def test_replicas_never_hand_out_one_version_twice(db_target: Path | str) -> None:
    first, second = SqlRegistryStore(db_target), SqlRegistryStore(db_target)
    versions = []
    for store in (first, second, second, first):
        view = store.write([], [], publish=True, since_revision=0, since_version=0, now_ms=1)
        versions.append(view.version)
    assert versions == sorted(set(versions))
    assert first.load_version() == second.load_version() == versions[-1]
    first.close()
    second.close()


def test_a_registry_file_from_before_alembic_is_adopted(tmp_path: Path, clock: FakeClock) -> None:
    import sqlite3

    db = tmp_path / "registry.sqlite3"
    legacy = sqlite3.connect(db)
    legacy.executescript("""
        CREATE TABLE appliances (appliance_id TEXT PRIMARY KEY, site TEXT NOT NULL, http_url TEXT NOT NULL,
            capacity_bytes INTEGER NOT NULL, client_prefixes TEXT NOT NULL, latitude REAL, longitude REAL,
            registered_unix_ms INTEGER NOT NULL, last_heartbeat_unix_ms INTEGER, state TEXT NOT NULL,
            healthy_reported INTEGER NOT NULL, load TEXT NOT NULL, titles TEXT NOT NULL, fill TEXT NOT NULL);
        CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
        INSERT INTO meta VALUES ('fleet_version', 41);
        PRAGMA user_version=1;""")
    legacy.close()
    registry, _ = make(SqlRegistryStore(db), clock)
    assert registry.snapshot.version == 42  # continues from the stored version
    registry.register(registration("a1"))
    registry.close()


def test_appliances_stored_before_statuses_were_are_down_until_they_heartbeat(
    tmp_path: Path, clock: FakeClock
) -> None:
    import sqlite3

    db = tmp_path / "registry.sqlite3"
    SqlRegistryStore(db).close()  # today's schema
    legacy = sqlite3.connect(db)  # a row as an older control plane wrote it: no status, revision 0
    legacy.execute(
        "INSERT INTO appliances (appliance_id, site, http_url, capacity_bytes, client_prefixes, latitude, "
        "longitude, registered_unix_ms, last_heartbeat_unix_ms, state, healthy_reported, load, titles, fill) "
        "VALUES ('old-1', 'ams', 'http://127.0.0.1:8081', 5, '[]', NULL, NULL, :now, :now, 'active', 1, "
        "'{}', '[\"t1\"]', '{}')", {"now": clock.wall_ms()})
    legacy.commit()
    legacy.close()
    registry, _ = make(SqlRegistryStore(db), clock)
    assert health_of(registry, "old-1") is Health.DOWN and registry.snapshot.appliances[0].titles == ("t1",)
    assert registry.heartbeat(beat("old-1")) is True
    assert health_of(registry, "old-1") is Health.HEALTHY
    registry.close()

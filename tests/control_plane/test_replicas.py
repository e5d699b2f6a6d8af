"""Replicas on one database, in one process: the same fleet under the same versions, health judged
from the shared sign of life, the planner lease, and fill work done once (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from control_plane.catalog import CatalogTitle, StaticCatalog
from control_plane.errors import NotLeader
from control_plane.fill import FillCoordinator
from control_plane.fill_store import SqlFillStore
from control_plane.health import HealthPolicy
from control_plane.lease import PLANNER, LeaderLease, Lease, MemoryLeaseStore, SqlLeaseStore
from control_plane.model import Health, HeartbeatReport, LoadReport, Registration
from control_plane.popularity import PopularityBook, PopularityPolicy
from control_plane.registry import FleetRegistry
from control_plane.schedules import FillSchedule
from control_plane.store import SqlRegistryStore

from .fakes import FakeClock

POLICY = HealthPolicy(down_after_ms=3000, degraded_error_ratio=0.05)
GB = 10**9


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def registration(ident: str = "a1", site: str = "ams") -> Registration:
    return Registration(ident, site, "http://127.0.0.1:8081", 100 * GB, ("10.0.0.0/8",))


def replicas(db: Path | str, clock: FakeClock, count: int = 2) -> list[FleetRegistry]:
    return [FleetRegistry(SqlRegistryStore(db), POLICY, clock, load_publish_interval_ms=1000)
            for _ in range(count)]


def health(registry: FleetRegistry, ident: str = "a1") -> Health | None:
    status = registry.snapshot.get(ident)
    return None if status is None else status.health


def test_a_heartbeat_to_one_replica_is_the_fleet_every_replica_serves(
    db_target: Path | str, clock: FakeClock
) -> None:
    a, b = replicas(db_target, clock)
    a.register(registration())
    b.tick()
    assert health(b) is Health.HEALTHY
    # Heartbeats reach A only, for longer than down_after_ms: B keeps the appliance alive.
    for _ in range(8):
        clock.advance(1000)
        assert a.heartbeat(HeartbeatReport("a1", titles=("t1",) if clock.wall_ms() % 2 else ()))
        a.tick()
        b.tick()
        assert b.snapshot == a.snapshot  # same version, same content
        assert health(b) is Health.HEALTHY
    # Silence: whichever replica sweeps first publishes DOWN; the other serves that very version.
    clock.advance(2999)
    b.tick()
    assert health(b) is Health.HEALTHY
    clock.advance(1)
    assert [t.appliance_id for t in b.tick()] == ["a1"]
    assert health(b) is Health.DOWN
    assert a.tick() == []  # nothing left for A to mark
    assert a.snapshot == b.snapshot
    for registry in (a, b):
        registry.close()


def test_a_replica_accepts_heartbeats_of_an_appliance_registered_elsewhere(
    db_target: Path | str, clock: FakeClock
) -> None:
    a, b = replicas(db_target, clock)
    a.register(registration())
    clock.advance(500)
    # B has not looked since: the heartbeat makes it read the database instead of refusing.
    assert b.heartbeat(HeartbeatReport("a1", load=LoadReport(connections=3)))
    assert b.record("a1").load.connections == 3
    b.tick()
    a.tick()
    assert a.record("a1").load.connections == 3 and a.record("a1").last_heartbeat_unix_ms == clock.wall_ms()
    assert not b.heartbeat(HeartbeatReport("ghost"))
    for registry in (a, b):
        registry.close()


def test_a_fresher_heartbeat_stored_by_another_replica_wins_over_a_stale_sweep(
    db_target: Path | str, clock: FakeClock
) -> None:
    a, b = replicas(db_target, clock)
    a.register(registration())
    b.tick()
    clock.advance(2500)
    a.heartbeat(HeartbeatReport("a1"))
    a.tick()  # the sign of life is in the database; B has not read it
    clock.advance(600)
    version = b.snapshot.version
    store = SqlRegistryStore(db_target)
    # B's own view says silent since registration; the conditional write finds the fresh heartbeat.
    view = store.mark_down(["a1"], clock.wall_ms() - 3000, since_revision=0, since_version=version,
                           now_ms=clock.wall_ms())
    assert view.version == a.snapshot.version and view.statuses == ()
    assert b.tick() == [] and health(b) is Health.HEALTHY
    store.close()
    for registry in (a, b):
        registry.close()


def test_a_restarted_replica_continues_the_versions_and_keeps_live_appliances(
    db_target: Path | str, clock: FakeClock
) -> None:
    a, b = replicas(db_target, clock)
    a.register(registration())
    before = a.snapshot.version
    a.close()  # one replica restarts while the other keeps serving
    clock.advance(1000)
    b.heartbeat(HeartbeatReport("a1"))
    b.tick()
    (restarted,) = replicas(db_target, clock, 1)
    assert restarted.snapshot.version > before
    assert health(restarted) is Health.HEALTHY  # alive a second ago: no DOWN blip on restart
    b.tick()
    assert b.snapshot == restarted.snapshot
    for registry in (b, restarted):
        registry.close()


def test_lease_is_held_by_one_replica_and_moves_when_it_expires_or_is_released(tmp_path: Path) -> None:
    for store in (MemoryLeaseStore(), SqlLeaseStore(tmp_path / "lease.sqlite3")):
        now = [1_000_000]

        def clock(now: list[int] = now) -> int:
            return now[0]

        a = LeaderLease(store, PLANNER, "a", "http://a:1", 3000, clock)
        b = LeaderLease(store, PLANNER, "b", "http://b:1", 3000, clock)
        assert a.renew() and not b.renew()
        lease = b.leader()
        assert lease == Lease("a", "http://a:1", 1_003_000) and not b.holding()
        now[0] += 2000
        assert a.renew() and not b.renew()  # renewed: good until 1_005_000
        now[0] += 2999
        assert not b.renew() and a.holding()
        now[0] += 2
        assert not a.holding()  # past its own expiry, even before anyone took it
        assert b.renew() and not a.renew()
        assert a.leader() == Lease("b", "http://b:1", now[0] + 3000)
        b.release()
        assert a.renew()


def fill_replica(db: Path | str, clock: FakeClock, registry: FleetRegistry,
                 leading: list[bool], opened: list[SqlFillStore]) -> FillCoordinator:
    store = SqlFillStore(db)
    opened.append(store)
    return FillCoordinator(
        fleet=lambda: registry.snapshot, catalog=StaticCatalog([CatalogTitle(f"t{i}", GB) for i in range(5)]),
        popularity=PopularityBook(store, PopularityPolicy(), clock), manifest_store=store,
        schedule_store=store, clock=clock, origin_url="http://origin.test", leading=lambda: leading[0],
    )


def test_fill_work_is_done_once_by_the_lease_holder_and_seen_by_every_replica(
    db_target: Path | str, clock: FakeClock
) -> None:
    (registry,) = replicas(db_target, clock, 1)
    registry.register(registration("a1"))
    planner_leads, other_leads = [True], [False]
    opened: list[SqlFillStore] = []
    planner = fill_replica(db_target, clock, registry, planner_leads, opened)
    other = fill_replica(db_target, clock, registry, other_leads, opened)
    asyncio.run(planner.plan("test"))
    with pytest.raises(NotLeader):
        asyncio.run(other.plan("test"))
    other.sync()
    assert other.version_for("a1") == planner.version_for("a1") > 0
    assert other.manifest_for("a1", 0) == planner.manifest_for("a1", 0)

    # A report to the other replica waits in the inbox until the planner folds it in, once.
    assert other.record_starts("ams", {"t3": 7}) == 7
    assert planner.popularity.score("ams", "t3") == 0
    planner.sync()
    planner.sync()
    assert planner.popularity.score("ams", "t3") == pytest.approx(7)

    # A schedule stored through the other replica reaches the manifests through the planner.
    version = planner.version_for("a1")
    other.set_schedule(FillSchedule("ams", "02:00", "06:00", "UTC"))
    assert other.version_for("a1") == version  # the other replica does not restamp
    planner.sync()
    assert planner.version_for("a1") > version and planner.manifest_for("a1", 0).window.start == "02:00"
    other.sync()
    assert other.manifest_for("a1", 0) == planner.manifest_for("a1", 0)

    # The lease moves: the new planner starts from what the old one left, and the old one,
    # planning on a stale view, cannot publish over it.
    planner_leads[0], other_leads[0] = False, True
    other.lead()
    asyncio.run(other.plan("lease"))
    assert other.popularity.score("ams", "t3") == pytest.approx(7)
    planner_leads[0] = True  # a paused replica that still believes it leads
    with pytest.raises(NotLeader):
        asyncio.run(planner.plan("stale"))
    registry.close()
    for store in opened:
        store.close()

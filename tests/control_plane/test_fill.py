"""FillCoordinator: manifests and their versions, schedules in manifests, re-plans, persistence."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from control_plane.catalog import CatalogTitle, StaticCatalog
from control_plane.errors import CatalogUnavailable
from control_plane.fill import FillCoordinator
from control_plane.fill_store import MemoryFillStore, SqlFillStore
from control_plane.health import HealthPolicy
from control_plane.manifest import FillWindow
from control_plane.model import ApplianceState, HeartbeatReport, Registration
from control_plane.popularity import PopularityBook, PopularityPolicy
from control_plane.registry import FleetRegistry
from control_plane.schedules import FillSchedule
from control_plane.store import MemoryRegistryStore

from .fakes import FakeClock

GB = 10**9
ORIGIN = "http://origin.test:8000"
TITLES = [CatalogTitle(f"title-{i}", (i % 3 + 1) * GB) for i in range(30)]


class FlakyCatalog(StaticCatalog):
    def __init__(self) -> None:
        super().__init__(TITLES)
        self.down = False

    async def titles(self) -> list[CatalogTitle]:
        if self.down:
            raise CatalogUnavailable("origin is down")
        return await super().titles()


class Rig:
    def __init__(self, store: MemoryFillStore | SqlFillStore | None = None,
                 clock: FakeClock | None = None) -> None:
        self.clock = clock or FakeClock()
        self.registry = FleetRegistry(MemoryRegistryStore(), HealthPolicy(3000, 0.05), self.clock)
        self.catalog = FlakyCatalog()
        self.store = store or MemoryFillStore()
        self.fill = FillCoordinator(
            fleet=lambda: self.registry.snapshot, catalog=self.catalog,
            popularity=PopularityBook(self.store, PopularityPolicy(), self.clock),
            manifest_store=self.store, schedule_store=self.store, clock=self.clock, origin_url=ORIGIN,
        )
        self.registry.add_listener(self.fill.on_fleet_change)

    def register(self, ident: str, site: str = "ams", capacity: int = 100 * GB) -> None:
        self.registry.register(Registration(ident, site, "http://127.0.0.1:8081", capacity, ()))

    def plan(self) -> None:
        asyncio.run(self.fill.plan("test"))


def test_manifests_for_every_planned_appliance_and_known_versions() -> None:
    rig = Rig()
    for ident in ("a1", "a2"):
        rig.register(ident)
    rig.register("f1", site="fra")
    rig.register("empty", capacity=0)
    rig.fill.popularity.record("ams", {"title-3": 50, "title-7": 10})
    rig.plan()
    v = rig.fill.version_for("a1")
    assert v == rig.fill.version_for("f1") == 1
    full = rig.fill.manifest_for("a1", 0)
    assert full.version == v and full.origin_url == ORIGIN and full.window == FillWindow()
    assert [e.priority for e in full.entries] == list(range(len(full.entries)))
    ams = {e.title for i in ("a1", "a2") for e in rig.fill.manifest_for(i, 0).entries}
    assert ams == {t.id for t in TITLES}  # capacity is ample: every title once, hot ones twice
    assert full.entries[0].title == "title-3" or rig.fill.manifest_for("a2", 0).entries[0].title == "title-3"
    unchanged = rig.fill.manifest_for("a1", v)
    assert unchanged.version == v and unchanged.entries == () and unchanged.origin_url == ""
    assert rig.fill.manifest_for("empty", 0).version == 0  # no capacity: no manifest
    assert rig.fill.manifest_for("nobody", 0).version == 0
    report = rig.fill.report
    assert report.version == v and report.titles == len(TITLES)
    assert report.sites["ams"]["titles_placed"] == len(TITLES) and report.sites["ams"]["appliances"] == 2
    assert report.changes["a1"].bytes_added == report.changes["a1"].bytes_planned > 0


def test_replanning_without_change_keeps_versions() -> None:
    rig = Rig()
    rig.register("a1")
    rig.register("a2")
    rig.plan()
    before = {i: rig.fill.version_for(i) for i in ("a1", "a2")}
    rig.plan()
    assert {i: rig.fill.version_for(i) for i in ("a1", "a2")} == before
    assert rig.fill.report.changes["a1"].bytes_added == 0


def test_schedules_reach_the_sites_manifests_under_new_versions() -> None:
    rig = Rig()
    rig.register("a1")
    rig.register("f1", site="fra")
    rig.plan()
    rig.fill.set_schedule(FillSchedule("ams", "02:00", "06:00", "Europe/Paris", 500_000_000))
    assert rig.fill.version_for("a1") == 2 and rig.fill.version_for("f1") == 1
    window = rig.fill.manifest_for("a1", 1).window
    assert window == FillWindow("02:00", "06:00", "Europe/Paris", 500_000_000, 0)
    schedule = rig.fill.run_now("ams", 2.5, rate_bits_per_second=10**9)
    assert schedule.run_now_until == rig.clock.wall_ms() // 1000 + 9000
    manifest = rig.fill.manifest_for("a1", 2)
    assert manifest.version == 3 and manifest.window.run_now_until == schedule.run_now_until
    assert manifest.window.rate_bits_per_second == 10**9 and manifest.window.start == "02:00"
    assert [s.site for s in rig.fill.schedules()] == ["ams"]
    # A schedule for a site without appliances yet is kept and used once they come.
    rig.fill.set_schedule(FillSchedule("lhr", "01:00", "05:00", "Europe/London", 10**8))
    rig.register("l1", site="lhr")
    rig.plan()
    assert rig.fill.manifest_for("l1", 0).window.tz == "Europe/London"


def test_a_drained_appliance_is_told_to_hold_nothing() -> None:
    rig = Rig()
    rig.register("a1")
    rig.register("a2")
    rig.plan()
    rig.registry.heartbeat(HeartbeatReport("a2", state=ApplianceState.DRAINING))
    rig.plan()
    drained = rig.fill.manifest_for("a2", 1)
    assert drained.version == 2 and drained.entries == ()
    assert {e.title for e in rig.fill.manifest_for("a1", 0).entries} == {t.id for t in TITLES}


def test_membership_changes_trigger_a_plan_and_health_does_not() -> None:
    async def scenario() -> list[str]:
        rig = Rig()
        rig.register("a1")
        runner = asyncio.create_task(rig.fill.run_forever(interval_s=3600, debounce_ms=0))
        reasons = []
        for change in ("start", "join", "health", "drain"):
            if change == "join":
                rig.register("a2")
            elif change == "health":
                rig.clock.advance(10_000)
                rig.registry.tick()  # both DOWN: not a membership change
            elif change == "drain":
                rig.registry.heartbeat(HeartbeatReport("a1", state=ApplianceState.DRAINED))
            await asyncio.sleep(0.3)
            reasons.append(rig.fill.report.reason + f"@{rig.fill.report.planned_unix_ms}")
        runner.cancel()
        return reasons

    reasons = asyncio.run(scenario())
    assert reasons[0].startswith("start")
    assert reasons[1].startswith("requested")
    assert reasons[2].split("@")[1] == reasons[1].split("@")[1]  # no re-plan on a health change
    assert reasons[3].startswith("requested") and reasons[3] != reasons[1]


def test_starts_of_a_title_missing_from_the_catalog_ask_for_one_plan() -> None:
    async def scenario() -> list[int]:
        rig = Rig()
        rig.register("a1")
        runner = asyncio.create_task(rig.fill.run_forever(interval_s=3600, debounce_ms=0))
        await asyncio.sleep(0.2)
        stamps = [rig.fill.report.planned_unix_ms]
        rig.catalog.set([*TITLES, CatalogTitle("just-ingested", GB)])
        for starts in ({"title-1": 3}, {"just-ingested": 1}, {"just-ingested": 2, "never-listed": 1},
                       {"never-listed": 5}):
            rig.clock.advance(1000)
            rig.fill.record_starts("ams", starts)
            await asyncio.sleep(0.2)
            stamps.append(rig.fill.report.planned_unix_ms)
        runner.cancel()
        assert "just-ingested" in {e.title for e in rig.fill.manifest_for("a1", 0).entries}
        return stamps

    start, known, new, other, again = asyncio.run(scenario())
    assert known == start  # a title the catalog had: no plan
    assert new > known  # a title it lacked: planned (and now the catalog has it)
    assert other > new  # "never-listed" asks once...
    assert again == other  # ...and only once


def test_an_unreachable_catalog_keeps_the_last_one() -> None:
    rig = Rig()
    rig.register("a1")
    rig.catalog.down = True
    with pytest.raises(CatalogUnavailable):
        rig.plan()
    assert rig.fill.version_for("a1") == 0
    rig.catalog.down = False
    rig.plan()
    rig.catalog.down = True
    rig.register("a2")
    rig.plan()
    assert rig.fill.report.stale_catalog
    assert rig.fill.version_for("a2") > 0


def test_manifests_and_versions_survive_a_restart(db_target: Path | str) -> None:
    path = db_target
    clock = FakeClock()
    rig = Rig(SqlFillStore(path), clock)
    rig.register("a1")
    rig.register("a2")
    rig.fill.set_schedule(FillSchedule("ams", "02:00", "06:00", "UTC", 10**9))
    rig.plan()
    versions = {i: rig.fill.version_for(i) for i in ("a1", "a2")}
    manifests = {i: rig.fill.manifest_for(i, 0) for i in ("a1", "a2")}
    rig.store.close()
    again = Rig(SqlFillStore(path), clock)
    again.register("a1")
    again.register("a2")
    assert {i: again.fill.manifest_for(i, 0) for i in ("a1", "a2")} == manifests
    assert again.fill.schedule("ams").rate_bits_per_second == 10**9
    again.plan()  # the same plan: nothing moves, versions stay
    assert {i: again.fill.version_for(i) for i in ("a1", "a2")} == versions
    again.fill.run_now("ams", 1)
    assert again.fill.version_for("a1") == max(versions.values()) + 1
    again.store.close()

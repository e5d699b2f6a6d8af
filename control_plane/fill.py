"""FillCoordinator: runs fill planning and holds every appliance's versioned manifest.

It joins the pieces: the fleet's membership (from the registry), the catalog (origin), the
popularity book and the schedules go into ``planning.plan_fleet``; the result becomes one manifest
per appliance (entries, the site's window, the origin URL), versioned and persisted. It is the
:class:`~control_plane.manifest.ManifestSource` the gRPC service answers from.

Versions: every planning run or schedule change that alters manifests takes the next number
(persisted, so it never goes back across restarts) and stamps it on the manifests it changed;
unchanged manifests keep their version, so appliances refetch only what changed.

Replicas: only the replica holding the planner lease (``lease.py``) plans, applies schedules to
manifests and folds reported starts into popularity; :meth:`FillCoordinator.sync`, run every sweep
on every replica, re-reads the manifests it published and the schedules any replica stored, so
every replica answers GetFillManifest and heartbeats alike. The others queue reports in the inbox.

Membership: an appliance takes part while it is ACTIVE (not draining or drained) with a positive
capacity. Health does not count: an appliance that is DOWN for a minute (or every appliance
after a control-plane restart) keeps its titles, so flapping moves nothing; operators drain an
appliance to take it out of the plan.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

from .catalog import CatalogSource, CatalogTitle
from .clock import Clock
from .errors import CatalogUnavailable, NotLeader
from .fill_store import FillRevisions, ManifestRow, ManifestStore, ScheduleStore
from .manifest import FillEntry, Manifest
from .model import ApplianceState, FleetState
from .packing import HeadCache
from .planning import ApplianceChange, FillPlan, PlanAppliance, PlanPolicy, plan_fleet
from .popularity import PopularityBook
from .schedules import FillSchedule

log = logging.getLogger(__name__)

# site -> sorted (appliance id, capacity) of the appliances taking part in planning.
Membership = dict[str, tuple[tuple[str, int], ...]]


@dataclass(frozen=True)
class PlanReport:
    """What the last planning run did; ``version`` 0 and no sites before the first run."""

    version: int = 0
    planned_unix_ms: int = 0
    duration_ms: int = 0
    reason: str = ""
    titles: int = 0
    # The catalog could not be read and the last one read was used instead.
    stale_catalog: bool = False
    # site -> {"appliances", "titles_placed", "titles_unplaced", "bytes_planned", ...}
    sites: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    changes: Mapping[str, ApplianceChange] = field(default_factory=dict)


def membership_of(state: FleetState) -> Membership:
    """The appliances that take part in planning, per site."""
    sites: dict[str, list[tuple[str, int]]] = {}
    for a in state.appliances:
        if a.state is ApplianceState.ACTIVE and a.capacity_bytes > 0:
            sites.setdefault(a.site, []).append((a.appliance_id, a.capacity_bytes))
    return {site: tuple(sorted(members)) for site, members in sites.items()}


class FillCoordinator:
    """Plans and serves manifests. Use from one event loop; only the pure planning runs in a thread."""

    def __init__(
        self,
        *,
        fleet: Callable[[], FleetState],
        catalog: CatalogSource,
        popularity: PopularityBook,
        manifest_store: ManifestStore,
        schedule_store: ScheduleStore,
        clock: Clock,
        origin_url: str,
        policy: PlanPolicy | None = None,
        leading: Callable[[], bool] = lambda: True,
    ) -> None:
        self._fleet = fleet
        self._catalog = catalog
        self.popularity = popularity
        self._manifest_store = manifest_store
        self._schedule_store = schedule_store
        self._clock = clock
        self._origin_url = origin_url
        self._policy = policy or PlanPolicy()
        # True while this replica holds the planner lease (always, for a lone control plane).
        self._leading = leading
        self._seen = manifest_store.load_revisions()
        self._manifests: dict[str, tuple[str, Manifest]] = {
            ident: (site, manifest) for ident, site, manifest in manifest_store.load_manifests()
        }
        self._schedules = {s.site: s for s in schedule_store.load_schedules()}
        self._last_version = max([manifest_store.load_last_version(),
                                  *(m.version for _, m in self._manifests.values())])
        self._last_catalog: list[CatalogTitle] | None = None
        self._catalog_ids: frozenset[str] = frozenset()
        # Titles reported as started that the last catalog lacked and that already asked for a
        # plan: each asks once, so a title the origin never lists cannot make planning spin.
        self._asked: set[str] = set()
        self._membership = membership_of(fleet())
        self._report = PlanReport()
        self._heads = HeadCache()
        self._lock = asyncio.Lock()
        self._wanted = asyncio.Event()
        self._took_lease = False

    # -- ManifestSource --------------------------------------------------------------------------

    def version_for(self, appliance_id: str) -> int:
        entry = self._manifests.get(appliance_id)
        return entry[1].version if entry else 0

    def manifest_for(self, appliance_id: str, known_version: int) -> Manifest:
        entry = self._manifests.get(appliance_id)
        if entry is None:
            return Manifest(version=0)
        manifest = entry[1]
        if known_version == manifest.version:
            return Manifest(version=manifest.version)
        return manifest

    # -- reading ---------------------------------------------------------------------------------

    @property
    def report(self) -> PlanReport:
        return self._report

    @property
    def leading(self) -> bool:
        """True when this replica plans (holds the planner lease)."""
        return self._leading()

    def manifest(self, appliance_id: str) -> tuple[str, Manifest] | None:
        """(site, full manifest) of the appliance; None when it was never planned."""
        return self._manifests.get(appliance_id)

    def schedules(self) -> list[FillSchedule]:
        return [self._schedules[s] for s in sorted(self._schedules)]

    def schedule(self, site: str) -> FillSchedule:
        """The site's schedule; an empty one (fill any time, no rate limit) when none was set."""
        return self._schedules.get(site) or FillSchedule(site)

    # -- changes ---------------------------------------------------------------------------------

    def set_schedule(self, schedule: FillSchedule) -> FillSchedule:
        """Store the schedule and hand the new window to the site's appliances at once."""
        self._schedule_store.save_schedule(schedule)
        self._schedules[schedule.site] = schedule
        # Not planning: the planning replica reads the schedule within a sweep and restamps.
        if self._leading():
            self._restamp(ident for ident, (site, _) in self._manifests.items() if site == schedule.site)
        log.info("fill schedule set", extra=schedule.to_json())
        return schedule

    def run_now(self, site: str, hours: float, rate_bits_per_second: int | None = None) -> FillSchedule:
        """Let ``site`` fill from now for ``hours`` regardless of its window (and at
        ``rate_bits_per_second`` from now on, when given). Returns the schedule."""
        until = self._clock.wall_ms() // 1000 + round(hours * 3600)
        schedule = replace(self.schedule(site), run_now_until=until)
        if rate_bits_per_second is not None:
            schedule = replace(schedule, rate_bits_per_second=rate_bits_per_second)
        return self.set_schedule(schedule)

    def on_fleet_change(self, state: FleetState) -> None:
        """Registry listener: ask for a re-plan when a site's membership changed."""
        membership = membership_of(state)
        if membership != self._membership:
            self._membership = membership
            self._wanted.set()

    def record_starts(self, site: str, starts: Mapping[str, int]) -> int:
        """Record playback starts (``PopularityBook.record``; raises InvalidRequest). A title the
        last catalog did not list (just ingested) asks for a plan, once per title. A replica that
        does not plan queues the report for the one that does."""
        if not self._leading():
            return self.popularity.queue(site, starts)
        recorded = self.popularity.record(site, starts)
        self._note_unknown(starts)
        return recorded

    def sync(self) -> None:
        """Catch up with the other replicas: manifests the planning one published, schedules any
        one stored; when planning, also fold queued reports in and apply changed schedules.
        Call every sweep. Database errors propagate (the caller logs and retries)."""
        revisions = self._manifest_store.load_revisions()
        if revisions.manifests > self._last_version:
            for ident, site, manifest in self._manifest_store.load_manifests(self._last_version):
                self._manifests[ident] = (site, manifest)
            self._last_version = revisions.manifests
        leading = self._leading()
        if revisions.schedules != self._seen.schedules:
            self._schedules = {s.site: s for s in self._schedule_store.load_schedules()}
            if leading:
                self._restamp(list(self._manifests))
        if leading and revisions.inbox != self._seen.inbox:
            for starts in self.popularity.fold_inbox().values():
                self._note_unknown(starts)
        self._seen = FillRevisions(self._last_version, revisions.schedules, revisions.inbox)

    def lead(self) -> None:
        """This replica took the planner lease: re-read what the last planner left (popularity,
        manifests, schedules, queued reports) and plan soon."""
        self.popularity.reload()
        self._seen = FillRevisions(self._seen.manifests, -1, -1)  # re-read schedules and the inbox
        self.sync()
        self._took_lease = True
        self._wanted.set()

    def _note_unknown(self, starts: Mapping[str, int]) -> None:
        unknown = {t for t, n in starts.items() if n and t not in self._catalog_ids} - self._asked
        if unknown and self._last_catalog is not None:
            if len(self._asked) > 100_000:
                self._asked.clear()
            self._asked |= unknown
            self._wanted.set()

    def request_plan(self) -> None:
        """Ask the background loop to plan soon."""
        self._wanted.set()

    async def plan(self, reason: str) -> PlanReport:
        """Plan every site now and publish the changed manifests. Runs one at a time.

        Raises CatalogUnavailable when the catalog cannot be read and none was read before, and
        NotLeader when another replica holds the planner lease (or took it meanwhile).
        """
        if not self._leading():
            raise NotLeader("another control-plane replica plans fills")
        async with self._lock:
            started = time.perf_counter()
            stale = False
            try:
                titles = await self._catalog.titles()
                self._last_catalog = titles
                self._catalog_ids = frozenset(t.id for t in titles)
            except CatalogUnavailable as exc:
                if self._last_catalog is None:
                    raise
                log.warning("catalog unavailable, planning with the last one", extra={"error": str(exc)})
                titles, stale = self._last_catalog, True
            membership = membership_of(self._fleet())
            sites = {site: [PlanAppliance(i, c) for i, c in members] for site, members in membership.items()}
            popularity = {site: self.popularity.predicted(site, titles) for site in sites}
            previous = {ident: {e.title: e.bytes for e in m.entries}
                        for ident, (_, m) in self._manifests.items()}
            # The lock keeps the head cache to one planning thread at a time.
            plan = await asyncio.to_thread(plan_fleet, sites, titles, popularity, previous, self._policy,
                                           self._heads)
            self.popularity.forget_faded()
            version = self._apply(plan, membership)
            self._report = _report(plan, version, reason, len(titles), stale, self._clock.wall_ms(),
                                   round((time.perf_counter() - started) * 1000))
        log.info("fill plan published", extra={
            "reason": reason, "version": version, "titles": len(titles), "sites": len(sites),
            "duration_ms": self._report.duration_ms, "bytes_added": plan.bytes_added,
            "bytes_deleted": plan.bytes_deleted, "stale_catalog": stale,
        })
        return self._report

    async def run_forever(self, interval_s: float, debounce_ms: int) -> None:
        """Plan at start, every ``interval_s``, and soon after :meth:`request_plan`, a membership
        change or starts of a title the catalog lacked (requests within ``debounce_ms`` are
        planned once). A failed run is retried with backoff (1 s doubling, at most
        ``interval_s``). Runs until cancelled."""
        retry_s = 1.0
        reason = "start"
        while True:
            self._wanted.clear()
            if self._took_lease:
                reason, self._took_lease = "lease", False
            try:
                if not self._leading():
                    raise NotLeader("not planning")
                await self.plan(reason)
            except NotLeader:
                wait_s, retry_s = interval_s, 1.0  # :meth:`lead` wakes this loop
            except Exception as exc:
                level = logging.WARNING if isinstance(exc, CatalogUnavailable) else logging.ERROR
                log.log(level, "fill planning failed", exc_info=level == logging.ERROR,
                        extra={"error": str(exc), "retry_s": retry_s})
                wait_s, retry_s = min(retry_s, interval_s), min(retry_s * 2, interval_s)
            else:
                wait_s, retry_s = interval_s, 1.0
            try:
                await asyncio.wait_for(self._wanted.wait(), wait_s)
                reason = "requested"
                await asyncio.sleep(debounce_ms / 1000)
            except TimeoutError:
                reason = "timer"

    # -- internals -------------------------------------------------------------------------------

    def _apply(self, plan: FillPlan, membership: Membership) -> int:
        """Turn the plan into manifests; changed ones get the next version. Returns that version."""
        version = self._last_version + 1
        planned: dict[str, tuple[str, Manifest]] = {}
        for site, site_plan in plan.sites.items():
            window = self.schedule(site).window()
            for ident, titles in site_plan.manifests.items():
                entries = tuple(FillEntry(t.title, p, t.bytes) for p, t in enumerate(titles))
                planned[ident] = (site, Manifest(version, entries, window, self._origin_url))
        # Appliances that left the plan (drained, no capacity) are told to hold nothing.
        for ident, (site, old) in self._manifests.items():
            if ident not in planned and old.entries:
                planned[ident] = (site, Manifest(version, (), old.window, self._origin_url))
        changed = [(i, s, m) for i, (s, m) in planned.items() if not self._same(i, m)]
        if changed:
            self._publish(changed, version)
        return self._last_version

    def _same(self, ident: str, manifest: Manifest) -> bool:
        old = self._manifests.get(ident)
        return old is not None and replace(old[1], version=manifest.version) == manifest

    def _restamp(self, idents: Iterable[str]) -> None:
        """Give the listed appliances their site's current window under a new version."""
        version = self._last_version + 1
        changed: list[ManifestRow] = []
        for ident in idents:
            site, old = self._manifests[ident]
            window = self.schedule(site).window()
            if window != old.window:
                changed.append((ident, site, replace(old, version=version, window=window)))
        if changed:
            self._publish(changed, version)

    def _publish(self, rows: list[ManifestRow], version: int) -> None:
        self._manifest_store.save_manifests(rows, version)
        self._last_version = version
        for ident, site, manifest in rows:
            self._manifests[ident] = (site, manifest)


def _report(plan: FillPlan, version: int, reason: str, titles: int, stale: bool, now_ms: int,
            duration_ms: int) -> PlanReport:
    sites: dict[str, dict[str, int]] = {}
    for site, sp in plan.sites.items():
        sites[site] = {
            "appliances": len(sp.manifests),
            "titles_placed": len(sp.replicas),
            "titles_unplaced": len(sp.unplaced),
            "replicas": sum(len(r) for r in sp.replicas.values()),
            "bytes_planned": sum(c.bytes_planned for c in sp.changes.values()),
            "bytes_added": sum(c.bytes_added for c in sp.changes.values()),
            "bytes_deleted": sum(c.bytes_deleted for c in sp.changes.values()),
        }
    return PlanReport(version, now_ms, duration_ms, reason, titles, stale, sites, plan.changes())

"""Replays a workload against one site of appliances, pull-through only or with nightly fill.

Real code, simulated time: each appliance's disk is an ``appliance.eviction`` ``streamfleet``
policy; viewers are routed with ``streamfleet.placement`` through ``planning.placement_for`` (the
function both the planner and steering use); with fill, steering's playback starts go to the
control plane's ``PopularityBook`` and, while the site's window (``control_plane.schedules``) is
open, ``planning.plan_fleet`` re-plans every ``plan_interval_s`` from the predicted popularity.

What the bench itself stands in for (no such code exists to import, see the report):
1. Steering: a viewer goes to the first appliance of ``Placement.rank(title)`` that holds the
   title (a complete fill), spreading round-robin over several such replicas (a stand-in for
   steering's bounded load); otherwise to the first of the ranking, the appliance a miss there
   fills. Pull-through always uses the first of the ranking.
2. The appliance's fill agent: in manifest order, each chunk not on disk is fetched at the
   schedule's rate (per appliance), inserted and pinned; chunks already cached are only pinned.
   A chunk is fetched only if it completes before the window closes. Titles that leave the
   manifest are unpinned and become ordinary cache.
3. The miss path: every miss is fetched from the origin (a site peer is asked first only when
   placement ranks it ahead of the appliance, which is never the case for the appliance a viewer
   is routed to here). Chunk keys are ints: ``title << 20 | rendition << 16 | segment``.

Simplifications: all segments of a viewing are requested when it starts (their bytes are still
counted in the hour each is played), and there is no bounded-load spill in pull-through.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from appliance.eviction import PolicyBase, make_policy
from control_plane.catalog import CatalogTitle
from control_plane.fill_store import MemoryFillStore
from control_plane.packing import HeadCache
from control_plane.planning import PlanAppliance, placement_for, plan_fleet
from control_plane.popularity import PopularityBook, PopularityPolicy
from control_plane.schedules import open_intervals, parse_schedule

from .prefill_model import Outcome, Workload

SITE = "site"
POLICY = "streamfleet"
_SEGMENT_BITS = 16
_RENDITION_BITS = 4


class SimClock:
    """The control plane's Clock seam, moved by the replay."""

    def __init__(self, now_s: float) -> None:
        self.now_s = now_s

    def wall_ms(self) -> int:
        return int(self.now_s * 1000)

    def monotonic_ms(self) -> int:
        return int(self.now_s * 1000)


class _Fill:
    """One appliance's fill agent: its queue (manifest order) and how far each title got."""

    def __init__(self) -> None:
        self.queue: list[int] = []
        # title -> chunks pinned so far (chunk j: rendition j // segments, segment j % segments)
        self.progress: dict[int, int] = {}
        # Simulated time up to which this agent has worked.
        self.cursor = 0.0


class SiteReplay:
    """One replay (single use): build, then :meth:`run`. ``prefill=False`` is pull-through."""

    def __init__(self, workload: Workload, prefill: bool) -> None:
        self.w = workload
        self.prefill = prefill
        spec, catalog = workload.site, workload.catalog
        if not 0.0 < spec.fill_fraction < 1.0:
            raise ValueError("fill_fraction must be within (0, 1): the rest of the disk is the cache")
        if max(catalog.segments, default=0) >= 1 << _SEGMENT_BITS or \
                len(catalog.rendition_bytes) > 1 << _RENDITION_BITS:
            raise ValueError("too many segments or renditions for the chunk key layout")
        self.members = [PlanAppliance(f"{SITE}-a{k:02d}", int(spec.fill_fraction * spec.disk_bytes))
                        for k in range(spec.appliances)]
        index = {m.id: k for k, m in enumerate(self.members)}
        rankings = placement_for(self.members).top_many(list(catalog.ids), spec.appliances)
        self.ranking = [[index[a] for a in row] for row in rankings]
        self.policies: list[PolicyBase[Any]] = [make_policy(POLICY, spec.disk_bytes) for _ in self.members]
        self.title_bytes: list[int] = catalog.title_bytes().tolist()
        self.segments: list[int] = catalog.segments.tolist()
        self.rbytes = list(catalog.rendition_bytes)
        horizon_h = math.ceil((workload.measure_to_s - workload.start_s) / 3600)
        tail_h = math.ceil(max(catalog.segments, default=0) * workload.segment_seconds / 3600) + 1
        hours = max(horizon_h, 0) + tail_h + 1
        self.outcome = Outcome([0] * hours, [0] * hours, [0] * hours)
        # Planning state (prefill only).
        self.clock = SimClock(workload.start_s)
        self.book = PopularityBook(MemoryFillStore(), PopularityPolicy(), self.clock)
        self.heads = HeadCache()
        self.previous: dict[str, dict[str, int]] = {}
        self.fills = [_Fill() for _ in self.members]
        # title -> appliances holding all of it, in the title's ranking order.
        self.holders: dict[int, list[int]] = {}
        self.served: dict[int, int] = {}
        # title -> when its first complete copy was pinned (for checks of pre-positioning).
        self.held_since: dict[int, float] = {}
        self.pending: dict[str, int] = {}
        schedule = parse_schedule(SITE, {"window": spec.window, "tz": workload.tz, "rate": spec.rate}, None)
        self.rate_bytes_s = schedule.rate_bits_per_second / 8
        span = workload.measure_to_s - workload.fill_from_s
        self.windows = list(open_intervals(schedule, workload.fill_from_s, span)) if span > 0 else []
        self.plan_times: list[float] = []
        for a, b in self.windows:
            t = a
            while t < b:
                self.plan_times.append(t)
                t += spec.plan_interval_s
        self.plan_times.reverse()  # popped from the end
        self.next_report = workload.start_s + spec.report_interval_s

    # -- the replay ------------------------------------------------------------------------------

    def run(self) -> Outcome:
        v = self.w.viewings
        ids = self.w.catalog.ids
        for start, title, rendition, count in zip(v.start_s.tolist(), v.title.tolist(), v.rendition.tolist(),
                                                  v.segments.tolist(), strict=True):
            if self.prefill:
                self._advance(start)
                self.pending[ids[title]] = self.pending.get(ids[title], 0) + 1
            self._serve(start, title, rendition, count)
        if self.prefill:
            self._advance(self.w.measure_to_s)
        return self.outcome

    def _serve(self, start: float, title: int, rendition: int, count: int) -> None:
        holders = self.holders.get(title)
        if holders:
            n = self.served.get(title, 0)
            self.served[title] = n + 1
            appliance = holders[n % len(holders)]
        else:
            appliance = self.ranking[title][0]
        request = self.policies[appliance].request
        size = self.rbytes[rendition]
        key = (title << (_SEGMENT_BITS + _RENDITION_BITS)) | (rendition << _SEGMENT_BITS)
        seg = self.w.segment_seconds
        offset = start - self.w.start_s
        upstream, requested = self.outcome.upstream, self.outcome.requested
        for i in range(count):
            if not request(key | i, size):
                upstream[int((offset + i * seg) // 3600)] += size
        # Requested bytes per hour, without a loop over the segments.
        i = 0
        while i < count:
            hour = int((offset + i * seg) // 3600)
            end = min(count, math.ceil(((hour + 1) * 3600 - offset) / seg))
            end = max(end, i + 1)
            requested[hour] += (end - i) * size
            i = end

    # -- control plane and fill agent --------------------------------------------------------------

    def _advance(self, t: float) -> None:
        """Run reports, plans and fills due before ``t``, in time order."""
        while True:
            plan_at = self.plan_times[-1] if self.plan_times else math.inf
            event = min(self.next_report, plan_at)
            if event > t:
                break
            self._fill_until(event)
            if self.next_report <= plan_at:
                self._report(self.next_report)
                self.next_report += self.w.site.report_interval_s
            else:
                self.plan_times.pop()
                self._plan(plan_at)
        self._fill_until(t)

    def _report(self, now: float) -> None:
        if self.pending:
            self.clock.now_s = now
            self.book.record(SITE, self.pending)
            self.pending = {}

    def _plan(self, now: float) -> None:
        self.clock.now_s = now
        catalog = self.w.catalog
        ready = np.flatnonzero(catalog.ready_s <= now).tolist()
        released = catalog.released_s.tolist()
        titles = [CatalogTitle(catalog.ids[i], self.title_bytes[i],
                               None if math.isnan(released[i]) else released[i]) for i in ready]
        predicted = self.book.predicted(SITE, titles)
        # The planner places every catalog title that fits, even with no predicted viewing at all;
        # filling those would only shrink the cache, so only titles with a prediction are offered.
        keep = np.flatnonzero(predicted > 0).tolist()
        offered = [titles[k] for k in keep]
        plan = plan_fleet({SITE: self.members}, offered, {SITE: predicted[keep]}, self.previous,
                          cache=self.heads).sites[SITE]
        self.previous = {a: {e.title: e.bytes for e in entries} for a, entries in plan.manifests.items()}
        self.outcome.plans += 1
        number = {catalog.ids[i]: i for i in ready}
        for k, member in enumerate(self.members):
            wanted = [number[e.title] for e in plan.manifests.get(member.id, ())]
            self._apply(k, wanted, now)

    def _apply(self, k: int, wanted: Sequence[int], now: float) -> None:
        """Appliance ``k`` takes its new manifest: unpin what left it, queue what is not complete."""
        fill = self.fills[k]
        keep = set(wanted)
        for title in [t for t in fill.progress if t not in keep]:
            self._unpin(k, title, fill.progress.pop(title))
        fill.queue = [t for t in wanted if fill.progress.get(t, 0) < self._chunks(t)]
        fill.queue.reverse()  # popped from the end
        fill.cursor = max(fill.cursor, now)

    def _fill_until(self, t: float) -> None:
        for k, fill in enumerate(self.fills):
            self._fill_one(k, fill, t)

    def _fill_one(self, k: int, fill: _Fill, t: float) -> None:
        """Let appliance ``k``'s fill agent work until ``t`` (only inside windows)."""
        while fill.queue and fill.cursor < t:
            window = next(((a, b) for a, b in self.windows if b > fill.cursor), None)
            if window is None or window[0] >= t:
                break
            fill.cursor = max(fill.cursor, window[0])
            title, until = fill.queue[-1], min(t, window[1])
            if not self._fill_title(k, fill, title, until):
                if until < window[1]:
                    break  # the next chunk ends after t: go on at the next call
                fill.cursor = window[1]  # it would not end inside this window: wait for the next
                continue
            fill.queue.pop()
            self._hold(k, title)
        if not fill.queue:
            fill.cursor = max(fill.cursor, t)

    def _fill_title(self, k: int, fill: _Fill, title: int, until: float) -> bool:
        """Fetch and pin ``title``'s chunks in order while each one completes by ``until``.

        Returns True when the title is complete, False when its next chunk would end after ``until``.
        """
        policy, rbytes, rate = self.policies[k], self.rbytes, self.rate_bytes_s
        hourly, origin = self.outcome.fill, self.w.start_s
        n = self.segments[title]
        total = n * len(rbytes)
        base = title << (_SEGMENT_BITS + _RENDITION_BITS)
        j = fill.progress.get(title, 0)
        cursor = fill.cursor
        complete = True
        while j < total:
            rendition, segment = divmod(j, n)
            key = base | (rendition << _SEGMENT_BITS) | segment
            if key not in policy:
                size = rbytes[rendition]
                done = cursor + size / rate
                if done > until:
                    complete = False
                    break
                policy.make_room(size)
                policy.insert(key, size)
                # Counted in the hour the fetch started; it ends inside the window.
                hourly[int((cursor - origin) // 3600)] += size
                cursor = done
            policy.pin(key)
            j += 1
        fill.progress[title] = j
        fill.cursor = cursor
        return complete

    def _chunks(self, title: int) -> int:
        return self.segments[title] * len(self.rbytes)

    def _hold(self, k: int, title: int) -> None:
        holders = self.holders.setdefault(title, [])
        self.held_since.setdefault(title, self.fills[k].cursor)
        if k not in holders:
            holders.append(k)
            order = self.ranking[title]
            holders.sort(key=order.index)

    def _unpin(self, k: int, title: int, chunks: int) -> None:
        holders = self.holders.get(title)
        if holders and k in holders:
            holders.remove(k)
        policy, n = self.policies[k], self.segments[title]
        base = title << (_SEGMENT_BITS + _RENDITION_BITS)
        for j in range(chunks):
            rendition, segment = divmod(j, n)
            policy.unpin(base | (rendition << _SEGMENT_BITS) | segment)


def replay(workload: Workload, prefill: bool) -> Outcome:
    """Replay ``workload`` through a fresh site; ``prefill=False`` is pull-through only."""
    return SiteReplay(workload, prefill).run()

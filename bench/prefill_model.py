"""The prefill benchmark's inputs and outputs: catalog, viewings, site, workload, per-hour outcome."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Catalog:
    """Every title the origin has, aligned arrays indexed by title number.

    A title is ``segments[i]`` media segments in each rendition; one segment of rendition ``r``
    is ``rendition_bytes[r]`` bytes whatever the title (constant bit rate), so a title's bytes on
    disk are ``segments[i] * sum(rendition_bytes)`` (playlists and init segments are left out:
    they are a few KB per title). A fill fetches renditions in this order.
    """

    ids: tuple[str, ...]
    segments: Ints
    rendition_bytes: tuple[int, ...]
    # Unix seconds from which the origin has the title ready (the planner may place it).
    ready_s: Floats
    # Unix seconds of the release (CatalogTitle.released_unix_s); NaN: unknown, never "new".
    released_s: Floats

    def title_bytes(self) -> Ints:
        result: Ints = self.segments * int(sum(self.rendition_bytes))
        return result

    def footprint(self) -> int:
        """Bytes of the whole catalog, every rendition of every title."""
        return int(self.title_bytes().sum())


@dataclass(frozen=True)
class Viewings:
    """Playback sessions sorted by start: the viewer plays ``segments[v]`` segments of one
    rendition from segment 0, one every ``segment_seconds`` (abandonment ends it early)."""

    start_s: Floats
    title: Ints
    rendition: Ints
    segments: Ints

    def __len__(self) -> int:
        return len(self.start_s)

    def segment_requests(self) -> int:
        return int(self.segments.sum())


@dataclass(frozen=True)
class SiteSpec:
    """One site of identical appliances; the same disks in both modes."""

    appliances: int
    # Disk of one appliance: the ``streamfleet`` policy's capacity.
    disk_bytes: int
    # Share of each disk the planner may fill (PlanAppliance.capacity_bytes); the rest stays an
    # ordinary cache for what was not filled. 0 < fill_fraction < 1.
    fill_fraction: float
    # Operator schedule, parsed by control_plane.schedules.parse_schedule.
    window: str = "02:00-06:00"
    rate: str = "1Gbps"
    # The control plane re-plans this often (its plan_interval_s default); here only while a
    # window is open, since an appliance acts on its manifest only then.
    plan_interval_s: float = 600.0
    # Steering batches playback starts to the control plane this often.
    report_interval_s: float = 60.0


@dataclass(frozen=True)
class Workload:
    name: str
    catalog: Catalog
    viewings: Viewings
    segment_seconds: float
    tz: str
    site: SiteSpec
    # Local midnight (unix s) of the first simulated day: hour bucket 0 starts here.
    start_s: float
    # Measured period [measure_from_s, measure_to_s): hit ratio, upstream and the daily peaks.
    measure_from_s: float
    measure_to_s: float
    # No plan before this (a warm-up during which popularity is learnt and caches warm up).
    fill_from_s: float


@dataclass
class Outcome:
    """One replay of a workload; every list is bytes per hour since ``Workload.start_s``."""

    requested: list[int]
    # Bytes the site fetched from the origin for viewers (misses), by when the viewer asked.
    upstream: list[int]
    # Bytes fetched by fills, by when each fetch started (a fetch ends inside its window).
    fill: list[int]
    plans: int = 0


def local_midnights(tz: str, first: dt.date, days: int) -> list[float]:
    """Unix seconds of local midnight of ``days + 1`` consecutive days from ``first`` (DST-aware)."""
    zone = zoneinfo.ZoneInfo(tz)
    return [dt.datetime.combine(first + dt.timedelta(days=d), dt.time(0), zone).timestamp()
            for d in range(days + 1)]


def peak_bytes(hourly: list[int], workload: Workload, hours: int = 4) -> int:
    """Sum over the measured local days of each day's busiest ``hours`` consecutive hours.

    Only measured hours count; a day with fewer measured hours than ``hours`` counts them all.
    """
    start = workload.start_s
    zone = zoneinfo.ZoneInfo(workload.tz)
    day = dt.datetime.fromtimestamp(workload.measure_from_s, zone).date()
    total = 0
    while True:
        midnights = local_midnights(workload.tz, day, 1)
        lo = max(midnights[0], workload.measure_from_s)
        hi = min(midnights[1], workload.measure_to_s)
        if lo >= hi:
            break
        first, last = round((lo - start) / 3600), round((hi - start) / 3600)
        series = [hourly[h] if h < len(hourly) else 0 for h in range(first, last)]
        width = min(hours, len(series))
        total += max(sum(series[i:i + width]) for i in range(len(series) - width + 1))
        day += dt.timedelta(days=1)
    return total


def measured(hourly: list[int], workload: Workload) -> int:
    """Bytes of ``hourly`` within the measured period."""
    first = round((workload.measure_from_s - workload.start_s) / 3600)
    last = round((workload.measure_to_s - workload.start_s) / 3600)
    return sum(hourly[first:last])


def summary(workload: Workload, pull: Outcome, pre: Outcome) -> dict[str, object]:
    """The benchmark's JSON line for one workload (both modes replayed the same viewings)."""
    pull_peak = peak_bytes(pull.upstream, workload)
    pre_peak = peak_bytes(pre.upstream, workload)
    requested = measured(pull.requested, workload)

    def hit_ratio(outcome: Outcome) -> float:
        return 1.0 - measured(outcome.upstream, workload) / requested if requested else 0.0

    return {
        "workload": workload.name,
        "pull_through_peak_upstream_bytes": pull_peak,
        "prefill_peak_upstream_bytes": pre_peak,
        "peak_upstream_reduction": round(1.0 - pre_peak / pull_peak, 4) if pull_peak else 0.0,
        "fill_bytes": sum(pre.fill),
        "pull_through_byte_hit_ratio": round(hit_ratio(pull), 4),
        "prefill_byte_hit_ratio": round(hit_ratio(pre), 4),
    }

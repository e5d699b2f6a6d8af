"""The ``trace`` workload: the real UMass YouTube campus trace (24 h), expanded into segments.

- Requests: ``appliance.eviction.read_trace(path, "umass")`` (GETVIDEO rows, ``video_id`` before
  any ``&``, file order), expanded with ``expand_to_chunks(requests, seed)``: each request becomes
  one viewing of one rendition from segment 0 with a drawn duration and watch fraction (see
  ``appliance/eviction/chunks.py`` for its parameters and sources). Only the popularity and the
  timing are real; the chunks are synthetic and fixed by the seed.
- Times: the trace's own timestamps, read beside ``read_trace`` (which keeps none). The one
  outlier (1988) and the three timestamps that go backwards take the previous request's time,
  so the file order is kept. The trace runs 2007-09-15 00:00 to 24:00 in the campus's zone
  (America/New_York, EDT): exactly one local day.
- Titles: YouTube ids are not the platform's title slugs, so video ``k`` in order of first
  appearance is ``v{k:05d}``. A title is every rendition of ``expand_to_chunks``' ladder for the
  whole video: the duration it draws per video is recovered by expanding each video once with
  every viewing watching to the end (the durations come from their own seeded generator, drawn
  once per video in order of first appearance, so they are the same draws). No release dates:
  nothing gets the new-release boost.
- Split (the trace has one night): 00:00-02:00 is learning only (steering reports starts, caches
  warm up, both modes identical); the fill window 02:00-06:00 plans from the starts seen so far,
  re-planning every 10 minutes as the control plane does; 06:00-24:00 is measured, so the day's
  busiest 4 hours (the evening) are in it. ``--days`` does not apply: the trace has one day.
- Planning offers only videos already requested (the planner would place unseen ones in id
  order; a YouTube catalog is unbounded anyway).
- Site: 4 appliances, each disk ``DISK_FRACTION`` = 1 % of the trace's catalog bytes (every
  rendition of every video, 7.9 TB at seed 1): about 10 % of the distinct chunk bytes the day
  requests (0.79 TB), the largest size ``bench/eviction.py`` uses; the site holds about 40 %.
  ``FILL_FRACTION`` = 75 % of each disk may be filled (as ``synthetic``), at 1 Gbit/s per
  appliance. Prefill also stays ahead of pull-through at 0.2 %-5 % per disk and 30 %-80 % fill.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path

import numpy as np

from appliance.eviction import Request, expand_to_chunks, read_trace
from appliance.eviction.chunks import LADDER, SEGMENT_SECONDS
from control_plane.schedules import parse_window

from .prefill_model import Catalog, SiteSpec, Viewings, Workload, local_midnights

TZ = "America/New_York"
APPLIANCES = 4
DISK_FRACTION = 0.01
FILL_FRACTION = 0.75
WINDOW = "02:00-06:00"
FIRST_SEGMENT = "seg_00000.m4s"


def trace_times(path: Path) -> list[float]:
    """Timestamps of the requests ``read_trace(path, "umass")`` returns, aligned, made monotonic.

    Uses read_trace's row rules (6 fields, numeric time, GETVIDEO with a video id). A time
    before the previous one, or more than a day after it, takes the previous one.
    """
    times: list[float] = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            fields = line.split()
            if len(fields) != 6 or fields[3] != "GETVIDEO" or not fields[4].split("&")[0]:
                continue
            try:
                t = float(fields[0])
            except ValueError:
                continue
            if times and not times[-1] <= t <= times[-1] + 86400:
                t = times[-1]
            times.append(t)
    return times


def trace_workload(path: Path, seed: int = 1) -> Workload:
    """The trace workload (see the module docstring). Raises TraceFormatError for an unreadable
    trace and ValueError when the trace is empty or its timestamps do not line up."""
    requests = read_trace(path, "umass").requests
    times = trace_times(path)
    if not requests or len(times) != len(requests):
        raise ValueError(f"{path}: {len(requests)} requests but {len(times)} timestamps")
    number: dict[str, int] = {}
    for video, _ in requests:
        number.setdefault(video, len(number))
    chunks = expand_to_chunks(requests, seed)
    # Viewing k is the run of chunks from its k-th seg_00000.
    renditions = {name: r for r, (name, _, _) in enumerate(LADDER)}
    firsts = [i for i, c in enumerate(chunks) if c.key.endswith(FIRST_SEGMENT)] + [len(chunks)]
    if len(firsts) != len(requests) + 1:
        raise ValueError("expand_to_chunks no longer starts every viewing at segment 0")
    rendition = [renditions[chunks[i].key.rsplit("/", 2)[1]] for i in firsts[:-1]]
    full = _full_segments(list(number), seed)

    zone = zoneinfo.ZoneInfo(TZ)
    day = dt.datetime.fromtimestamp(times[0], zone).date()
    midnight, next_midnight = local_midnights(TZ, day, 1)
    catalog = Catalog(
        ids=tuple(f"v{k:05d}" for k in range(len(number))),
        segments=np.array(full, dtype=np.int64),
        rendition_bytes=tuple(int(bps * SEGMENT_SECONDS / 8) for _, bps, _ in LADDER),
        ready_s=np.full(len(number), midnight - 86400.0),
        released_s=np.full(len(number), np.nan),
    )
    viewings = Viewings(
        start_s=np.array(times, dtype=np.float64),
        title=np.array([number[video] for video, _ in requests], dtype=np.int64),
        rendition=np.array(rendition, dtype=np.int64),
        segments=np.diff(np.array(firsts, dtype=np.int64)).astype(np.int64),
    )
    if np.any(viewings.segments > catalog.segments[viewings.title]):
        raise ValueError("a viewing is longer than its video: the duration draws no longer match")
    site = SiteSpec(APPLIANCES, int(DISK_FRACTION * catalog.footprint()), FILL_FRACTION, window=WINDOW)
    closes = dt.time.fromisoformat(parse_window(WINDOW)[1])
    window_end = dt.datetime.combine(day, closes, zone).timestamp()
    return Workload("trace", catalog, viewings, SEGMENT_SECONDS, TZ, site, midnight,
                    window_end, next_midnight, midnight)


def _full_segments(videos: list[str], seed: int) -> list[int]:
    """Each video's whole length in segments, as ``expand_to_chunks`` draws it for ``seed``."""
    whole = expand_to_chunks([Request(v, 1) for v in videos], seed, watch_fractions=((1.0, 1.0, 1.0),))
    counts: list[int] = []
    for chunk in whole:
        if chunk.key.endswith(FIRST_SEGMENT):
            counts.append(0)
        counts[-1] += 1
    return counts

"""The ``synthetic`` workload: a Netflix-like catalog watched at one ISP site for a week.

Every parameter, and where its value comes from (written from published figures as remembered,
not fetched; "assumption" marks values with no public figure behind them):

- Catalog: ``TITLES`` = 2,000 playable titles (episodes and films) at scale 1. A national
  Netflix catalog lists a few thousand shows and films (tens of thousands of episodes); this is a
  scaled-down one, sized so a run takes seconds. Every count below scales with ``--scale``.
- Duration: log-normal, median 50 min, sigma 0.45, clipped to 20..150 min: a mix of 22-60 min TV
  episodes and 90-150 min films (assumption).
- Renditions: four rungs of Netflix's fixed bit-rate ladder (Netflix Tech Blog, "Per-Title Encode
  Optimization", 2015: 235 kb/s at 320x240 up to 5,800 kb/s at 1080p): 1080p 5.8 Mb/s, 720p
  3 Mb/s, 480p 1.05 Mb/s, 240p 235 kb/s. Viewings per rung 50/25/15/10 %: most Netflix viewing
  is on TV screens at the top rungs (assumption; no public split).
- Segments of 6 s: the segment length Apple's HLS Authoring Specification recommends; one
  segment of a rung is ``bit rate * 6 / 8`` bytes.
- Popularity: Zipf-like over a random order of the titles with exponent ``ZIPF`` = 0.8.
  Published fits for VoD and web objects mostly lie between about 0.6 and 1.0 (Breslau et al.,
  INFOCOM 1999, 0.64-0.83 for web requests; Cha et al., IMC 2007, for YouTube and Daum UGC VoD;
  ``bench/fill_plan.py`` uses 0.9).
- Daily churn: every title's log-popularity takes a random-walk step of sigma 0.15 a day (about
  +-15 % a day, as ``bench/fill_plan.py``; assumption).
- New releases: ``RELEASES_PER_DAY`` = 2 a day, each premiering at 00:00 Pacific (Netflix's
  global release time for its originals), i.e. 09:00 at this European site, at the popularity
  of a title of rank 1..20 (uniform) that then halves every ``RELEASE_HALF_LIFE_DAYS`` = 4 days
  (assumption; Netflix's weekly Top 10 shows most new titles peaking in their first week). The
  origin has each title ready 2 days before its premiere, with its release date set, so the
  popularity module's new-release boost (``new_release_quantile``) can pre-position it; Netflix
  describes pre-positioning titles ahead of demand in "Content Popularity for Open Connect"
  (Netflix Tech Blog) and the Open Connect overview.
- Viewing volume: ``VIEWINGS_PER_DAY`` = 3,000 viewings a day at the site at scale 1, Poisson per
  hour along ``DIURNAL``: an evening peak at 20:00-22:00 and a trough near 04:00-05:00 at under
  a tenth of it, the shape of residential traffic in Sandvine's Global Internet Phenomena reports
  and in Netflix's own description of its off-peak fill (the values per hour are an assumption).
- Abandonment: 25 % of viewings stop within the first 10 % of the title (sampling), 45 % stop
  uniformly between 10 % and 100 %, 30 % watch to the end. Early abandonment dominates VoD
  sessions (Yu et al., "Understanding user behavior in large-scale video-on-demand systems",
  EuroSys 2006; Finamore et al., IMC 2011, for YouTube); for long-form paid VoD the completion
  share is an assumption. Every viewing starts at segment 0 (no resumes, no seeks).
- Site: 4 appliances; each disk is ``DISK_FRACTION`` = 20 % of the catalog's bytes (every rendition
  of every title), so the site could hold 80 % of it, as Open Connect's storage appliances are
  meant to hold most of a region's catalog (Open Connect overview; the exact share is an
  assumption). ``FILL_FRACTION`` = 75 % of each disk may be filled; the rest stays an ordinary
  cache for what was not filled (assumption). Fill window 02:00-06:00 local at 1 Gbit/s per
  appliance: Open Connect fills during the partner ISP's off-peak hours (Open Connect overview;
  the control plane's own example schedule is 02:00-06:00); 1 Gbit/s fills an empty appliance's
  share in about 3 of the 4 hours at scale 1.
- Time: Europe/Amsterdam from Monday 2024-05-06 (no DST change for months). Two warm-up days,
  not measured: on day 0 steering reports starts and caches warm up, with no fill (the site has
  no history yet); the first fill, of empty disks, is in day 1's window (02:00-06:00). Then
  ``days`` measured days, with a fill every night.
- The disk size decides the result. At scale 1, seed 1, the reduction is 53 % at 20 % of the
  catalog per disk, 18 % at 15 % and -1 % at 10 % (prefill no better than pull-through): a fill
  stores every rendition of a whole title, while a cache stores only the segments viewers asked
  for. With disks this large, pull-through's misses are almost all first requests, and those
  are what a nightly fill moves out of the evening.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

from .prefill_model import Catalog, SiteSpec, Viewings, Workload, local_midnights

TZ = "Europe/Amsterdam"
FIRST_DAY = dt.date(2024, 5, 6)
WARMUP_DAYS = 2
TITLES = 2_000
VIEWINGS_PER_DAY = 3_000
ZIPF = 0.8
DAILY_DRIFT_SIGMA = 0.15
RELEASES_PER_DAY = 2
RELEASE_RANKS = (1, 20)
RELEASE_HALF_LIFE_DAYS = 4.0
READY_BEFORE_PREMIERE_S = 2 * 86400.0
PREMIERE_LOCAL_HOUR = 9  # 00:00 America/Los_Angeles in May
DURATION_MEDIAN_MIN = 50.0
DURATION_SIGMA = 0.45
DURATION_RANGE_MIN = (20.0, 150.0)
SEGMENT_SECONDS = 6.0
# (rendition, bits per second, share of viewings); a fill fetches them in this order.
LADDER: tuple[tuple[str, int, float], ...] = (
    ("1080p", 5_800_000, 0.50),
    ("720p", 3_000_000, 0.25),
    ("480p", 1_050_000, 0.15),
    ("240p", 235_000, 0.10),
)
# (probability, low, high) of the watched fraction of a title; high == low means exactly that.
WATCH_FRACTIONS: tuple[tuple[float, float, float], ...] = (
    (0.25, 0.0, 0.1),
    (0.45, 0.1, 1.0),
    (0.30, 1.0, 1.0),
)
# Relative viewing starts per local hour 00..23.
DIURNAL = (0.55, 0.35, 0.20, 0.12, 0.08, 0.08, 0.12, 0.20, 0.28, 0.33, 0.37, 0.42,
           0.47, 0.50, 0.52, 0.55, 0.60, 0.68, 0.78, 0.90, 1.00, 1.00, 0.92, 0.75)
APPLIANCES = 4
DISK_FRACTION = 0.20
FILL_FRACTION = 0.75


def synthetic_workload(scale: float = 1.0, days: int = 7, seed: int = 1) -> Workload:
    """The synthetic workload (see the module docstring). Raises ValueError for days < 1 or scale <= 0."""
    if days < 1 or scale <= 0:
        raise ValueError("need days >= 1 and scale > 0")
    rng = np.random.default_rng(seed)
    total_days = WARMUP_DAYS + days
    midnights = local_midnights(TZ, FIRST_DAY, total_days + 1)
    n_base = max(20, round(TITLES * scale))
    per_day = max(1, round(RELEASES_PER_DAY * scale))
    # Releases on every simulated day and the day after (ready before the run ends, so pre-positioned).
    premieres = np.repeat(np.array([m + PREMIERE_LOCAL_HOUR * 3600 for m in midnights[:total_days + 1]]),
                          per_day)
    n = n_base + len(premieres)
    ids = tuple(f"title-{i:05d}" for i in range(n))

    minutes = rng.lognormal(math.log(DURATION_MEDIAN_MIN), DURATION_SIGMA, n).clip(*DURATION_RANGE_MIN)
    segments = np.ceil(minutes * 60 / SEGMENT_SECONDS).astype(np.int64)
    rendition_bytes = tuple(int(bps * SEGMENT_SECONDS / 8) for _, bps, _ in LADDER)
    long_ago = midnights[0] - 365 * 86400.0
    released = np.concatenate([np.full(n_base, long_ago), premieres])
    ready = np.concatenate([np.full(n_base, long_ago), premieres - READY_BEFORE_PREMIERE_S])
    catalog = Catalog(ids, segments, rendition_bytes, ready, released)

    log_pop = -ZIPF * np.log(rng.permutation(n_base) + 1.0)
    release_rank = rng.integers(RELEASE_RANKS[0], RELEASE_RANKS[1] + 1, len(premieres))
    release_level = release_rank.astype(np.float64) ** -ZIPF
    hour_share = np.array(DIURNAL) / sum(DIURNAL)
    shares = np.array([s for _, _, s in LADDER])
    starts: list[np.ndarray] = []
    titles: list[np.ndarray] = []
    for day in range(total_days):
        base = np.exp(log_pop)
        for hour in range(24):
            at = midnights[day] + hour * 3600
            age_days = (at - premieres) / 86400
            fresh = np.where(age_days >= 0, release_level * np.exp2(-np.maximum(age_days, 0) /
                                                                   RELEASE_HALF_LIFE_DAYS), 0.0)
            weight = np.concatenate([base, fresh])
            count = int(rng.poisson(VIEWINGS_PER_DAY * scale * hour_share[hour]))
            starts.append(at + rng.uniform(0, 3600, count))
            titles.append(rng.choice(n, size=count, p=weight / weight.sum()))
        log_pop = log_pop + rng.normal(0.0, DAILY_DRIFT_SIGMA, n_base)
    start = np.concatenate(starts)
    title = np.concatenate(titles).astype(np.int64)
    order = np.argsort(start, kind="stable")
    start, title = start[order], title[order]
    rendition = rng.choice(len(LADDER), size=len(start), p=shares / shares.sum()).astype(np.int64)
    watched = _watch_fractions(rng, len(start))
    count = np.maximum(1, np.ceil(segments[title] * watched - 1e-9)).astype(np.int64)
    viewings = Viewings(start, title, rendition, count)

    footprint = int(catalog.title_bytes()[:n_base].sum())
    site = SiteSpec(APPLIANCES, int(DISK_FRACTION * footprint), FILL_FRACTION)
    return Workload("synthetic", catalog, viewings, SEGMENT_SECONDS, TZ, site, midnights[0],
                    midnights[WARMUP_DAYS], midnights[total_days], midnights[WARMUP_DAYS - 1])


def _watch_fractions(rng: np.random.Generator, n: int) -> np.ndarray:
    probs = np.array([p for p, _, _ in WATCH_FRACTIONS])
    kind = rng.choice(len(WATCH_FRACTIONS), size=n, p=probs / probs.sum())
    low = np.array([lo for _, lo, _ in WATCH_FRACTIONS])[kind]
    high = np.array([hi for _, _, hi in WATCH_FRACTIONS])[kind]
    result: np.ndarray = low + (high - low) * rng.uniform(0.0, 1.0, n)
    return result

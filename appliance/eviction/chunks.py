"""Synthetic chunk expansion: each video request becomes the run of segment requests of one viewing.

The UMass trace has real title popularity but no sizes and no chunks. :func:`expand_to_chunks`
turns each request for a video into the requests an HLS player would make for
``{video}/{rendition}/seg_00000.m4s`` ... ``seg_{k-1}``: one rendition per viewing (no bitrate
switches), ``k`` from the video's duration and the viewer's watch fraction, each segment
``bitrate * segment_seconds / 8`` bytes. The result is synthetic; only the popularity is real.

Parameters and where they come from (all overridable):

- ``segment_seconds = 4``: a common HLS/DASH segment length (Apple recommends 6 s).
- ``LADDER``: five rungs of the example 16:9 H.264 ladder in Apple's HLS Authoring
  Specification (360p 365 kb/s, 432p 1.1 Mb/s, 540p 2 Mb/s, 720p 3 Mb/s, 1080p 6 Mb/s); the
  share of viewings per rung (15/20/25/25/15%) is an assumption, there is no public figure
  for this trace.
- Duration per video: log-normal, median 180 s, sigma 0.8, clipped to [10 s, 600 s]. Cheng,
  Dale and Liu (IWQoS 2008) found most 2007 YouTube videos shorter than five minutes, and uploads
  were capped at ten minutes then. Drawn once per video, so every viewing sees the same length.
- Watch fraction per viewing: 60% of viewings stop within the first 20% of the video (Finamore
  et al., "YouTube everywhere", IMC 2011); of the rest, 25 points stop uniformly between 20% and
  100% and 15 points watch to the end (an assumption).

Deterministic for a given ``seed`` (one ``random.Random`` per purpose, string-seeded, so
PYTHONHASHSEED does not matter).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable

from streamfleet.addressing import segment_name

from .traces import Request

# (rendition, bits per second, share of viewings)
LADDER: tuple[tuple[str, int, float], ...] = (
    ("360p", 365_000, 0.15),
    ("432p", 1_100_000, 0.20),
    ("540p", 2_000_000, 0.25),
    ("720p", 3_000_000, 0.25),
    ("1080p", 6_000_000, 0.15),
)
SEGMENT_SECONDS = 4.0
DURATION_MEDIAN_S = 180.0
DURATION_SIGMA = 0.8
DURATION_RANGE_S = (10.0, 600.0)
# (probability, low, high) of the watched fraction of a video; high == low means exactly that.
WATCH_FRACTIONS: tuple[tuple[float, float, float], ...] = (
    (0.60, 0.0, 0.2),
    (0.25, 0.2, 1.0),
    (0.15, 1.0, 1.0),
)


def expand_to_chunks(
    requests: Iterable[Request],
    seed: int,
    *,
    ladder: tuple[tuple[str, int, float], ...] = LADDER,
    segment_seconds: float = SEGMENT_SECONDS,
    duration_median_s: float = DURATION_MEDIAN_S,
    duration_sigma: float = DURATION_SIGMA,
    watch_fractions: tuple[tuple[float, float, float], ...] = WATCH_FRACTIONS,
) -> list[Request]:
    """Expand video requests (their sizes are ignored) into segment requests, in order.

    Returns a new list; at least one segment per viewing. Raises ValueError for an empty
    ladder or a non-positive segment length.
    """
    if not ladder or segment_seconds <= 0:
        raise ValueError("need a non-empty ladder and a positive segment length")
    viewing_rng = random.Random(f"{seed}/viewings")
    duration_rng = random.Random(f"{seed}/durations")
    renditions = [(name, int(bps * segment_seconds / 8)) for name, bps, _ in ladder]
    weights = [share for _, _, share in ladder]
    fraction_weights = [p for p, _, _ in watch_fractions]
    durations: dict[str, float] = {}
    segment_names: list[str] = []
    out: list[Request] = []
    for video, _ in requests:
        duration = durations.get(video)
        if duration is None:
            drawn = duration_rng.lognormvariate(math.log(duration_median_s), duration_sigma)
            duration = min(max(drawn, DURATION_RANGE_S[0]), DURATION_RANGE_S[1])
            durations[video] = duration
        rendition, size = viewing_rng.choices(renditions, weights)[0]
        _, low, high = viewing_rng.choices(watch_fractions, fraction_weights)[0]
        fraction = low if high == low else viewing_rng.uniform(low, high)
        count = max(1, math.ceil(duration * fraction / segment_seconds))
        while len(segment_names) < count:
            segment_names.append(segment_name(len(segment_names)))
        prefix = f"{video}/{rendition}/"
        out.extend(Request(prefix + segment_names[i], size) for i in range(count))
    return out

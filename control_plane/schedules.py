"""Fill schedules: each site's nightly window, time zone and rate, parsed and turned into time.

An operator says ``{"window": "02:00-06:00", "tz": "Europe/Paris", "rate": "500Mbps"}`` for a
site; appliances of that site fill only inside the window (local time, DST-aware through
zoneinfo) or while a ``run-now`` lasts, at most at the rate. Parsing raises InvalidRequest naming
the field, so the HTTP adapter answers a 400 the operator can act on.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import zoneinfo
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import InvalidRequest
from .manifest import FillWindow

_WINDOW_RE = re.compile(r"^\s*(\d{2}):(\d{2})\s*-\s*(\d{2}):(\d{2})\s*$")
_RATE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)\s*(bps|bit/s|bits/s|bit|bits|b/s|Bps|B/s)?\s*$")
_PREFIX = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
MAX_RATE_BITS = 10**13  # 10 Tbit/s: far above any appliance link
# How far ahead an ETA is searched before it is reported as unknown.
ETA_HORIZON_DAYS = 400


@dataclass(frozen=True, slots=True)
class FillSchedule:
    """One site's fill schedule. Empty start/end/tz: no window, fill at any time."""

    site: str
    start: str = ""
    end: str = ""
    tz: str = ""
    # 0: no rate limit.
    rate_bits_per_second: int = 0
    # Unix seconds until which filling runs regardless of the window; 0: not set.
    run_now_until: int = 0

    @property
    def has_window(self) -> bool:
        return bool(self.start)

    def window(self) -> FillWindow:
        """The manifest's view of this schedule."""
        return FillWindow(self.start, self.end, self.tz, self.rate_bits_per_second, self.run_now_until)

    def to_json(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "window": f"{self.start}-{self.end}" if self.has_window else "",
            "tz": self.tz,
            "rate_bits_per_second": self.rate_bits_per_second,
            "run_now_until": self.run_now_until,
        }


def parse_window(text: object) -> tuple[str, str]:
    """``"HH:MM-HH:MM"`` -> (start, end); the end may be "24:00" and may wrap past midnight.

    Raises InvalidRequest naming ``window``.
    """
    match = _WINDOW_RE.match(text) if isinstance(text, str) else None
    if match is None:
        raise InvalidRequest(f"window {text!r} is invalid: expected HH:MM-HH:MM, e.g. 02:00-06:00")
    sh, sm, eh, em = (int(g) for g in match.groups())
    if sh > 23 or sm > 59 or em > 59 or eh > 24 or (eh == 24 and em != 0):
        raise InvalidRequest(f"window {text!r} has an invalid time of day")
    start, end = f"{sh:02d}:{sm:02d}", f"{eh:02d}:{em:02d}"
    if start == end or (start == "00:00" and end == "24:00"):
        raise InvalidRequest(f"window {text!r} must start and end at different times")
    return start, end


def parse_tz(text: object) -> str:
    """An IANA time zone name such as "Europe/Paris". Raises InvalidRequest naming ``tz``."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidRequest("tz is missing: expected an IANA time zone such as Europe/Paris")
    try:
        zoneinfo.ZoneInfo(text.strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidRequest(f"tz {text!r} is not a known IANA time zone (e.g. Europe/Paris, UTC)") from None
    return text.strip()


def parse_rate(text: object) -> int:
    """A rate such as "500Mbps", "1Gbps", "200Mbit", "1.5 Gbit/s", "50MB/s" -> bits per second.

    Prefixes are decimal (k, M, G, T); "B" means bytes. A bare number is bits per second.
    Raises InvalidRequest naming ``rate``.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        text = str(text)
    match = _RATE_RE.match(text) if isinstance(text, str) else None
    if match is None:
        raise InvalidRequest(f"rate {text!r} is invalid: expected e.g. 500Mbps, 1Gbps, 200Mbit")
    number, prefix, unit = match.groups()
    per_unit = 8 if unit in ("Bps", "B/s") else 1
    bits = float(number) * _PREFIX[prefix.lower()] * per_unit
    if not 1 <= bits <= MAX_RATE_BITS or not math.isfinite(bits):
        raise InvalidRequest(f"rate {text!r} is out of range (1 bit/s .. 10 Tbit/s)")
    return int(bits)


def parse_schedule(site: str, body: Mapping[str, Any], previous: FillSchedule | None) -> FillSchedule:
    """The schedule an operator PUT for ``site``; a pending run-now survives the update.

    Raises InvalidRequest naming the first bad field (window, tz or rate).
    """
    unknown = sorted(set(body) - {"window", "tz", "rate"})
    if unknown:
        raise InvalidRequest(f"{unknown[0]}: unknown field (expected window, tz, rate)")
    if "window" not in body:
        raise InvalidRequest("window is missing: expected HH:MM-HH:MM, e.g. 02:00-06:00")
    start, end = parse_window(body["window"])
    tz = parse_tz(body.get("tz"))
    if "rate" not in body:
        raise InvalidRequest("rate is missing: expected e.g. 500Mbps")
    rate = parse_rate(body["rate"])
    return FillSchedule(site, start, end, tz, rate, previous.run_now_until if previous else 0)


def open_intervals(schedule: FillSchedule, now_s: float, horizon_s: float) -> Iterator[tuple[float, float]]:
    """Times (unix seconds, sorted, merged, from ``now_s``) during which the site may fill.

    No window means always open. The run-now period is open too. Ends within ``horizon_s``.
    """
    limit = now_s + horizon_s
    raw: list[tuple[float, float]] = []
    if schedule.run_now_until > now_s:
        raw.append((now_s, float(schedule.run_now_until)))
    if not schedule.has_window:
        raw.append((now_s, limit))
    else:
        zone = zoneinfo.ZoneInfo(schedule.tz)
        start = _time_of_day(schedule.start)
        end_minutes = _minutes(schedule.end)
        today = dt.datetime.fromtimestamp(now_s, zone).date()
        for offset in range(-1, math.ceil(horizon_s / 86400) + 2):
            day = today + dt.timedelta(days=offset)
            opens = dt.datetime.combine(day, start, zone)
            # An end at or before the start wraps into the next day; "24:00" is next midnight.
            end_day = day + dt.timedelta(days=1) if end_minutes <= _minutes(schedule.start) or \
                end_minutes == 1440 else day
            closes = dt.datetime.combine(end_day, _time_of_day(schedule.end), zone)
            a, b = max(opens.timestamp(), now_s), min(closes.timestamp(), limit)
            if a < b:
                raw.append((a, b))
    merged: list[tuple[float, float]] = []
    for a, b in sorted(raw):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    yield from merged


def fill_eta(schedule: FillSchedule, remaining_bytes: int, now_s: float) -> float | None:
    """Unix seconds when ``remaining_bytes`` will have been filled at the schedule's rate.

    ``now_s`` when nothing remains; None when there is no rate (unbounded) or no end in sight.
    """
    if remaining_bytes <= 0:
        return now_s
    if schedule.rate_bits_per_second <= 0:
        return None
    needed = remaining_bytes * 8 / schedule.rate_bits_per_second
    for a, b in open_intervals(schedule, now_s, ETA_HORIZON_DAYS * 86400):
        if b - a >= needed:
            return a + needed
        needed -= b - a
    return None


def is_open(schedule: FillSchedule, now_s: float) -> bool:
    """True when the site may fill at ``now_s``."""
    return any(a <= now_s < b for a, b in open_intervals(schedule, now_s, 2 * 86400))


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def _time_of_day(hhmm: str) -> dt.time:
    minutes = _minutes(hhmm) % 1440
    return dt.time(minutes // 60, minutes % 60)

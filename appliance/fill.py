"""Fill domain: the appliance's manifest and window, the chunks a fill pass must fetch, its progress.

The control plane plans which titles each appliance holds (a versioned manifest, most valuable
first) and when it may fill them (a local-time window in an IANA time zone, a rate, an optional
run-now deadline). This module turns that into decisions without any I/O of its own: whether
the window is open at a given instant, when it opens next, and which files of the manifest's
titles are still missing from the store. The state file records the manifest applied, so a
restarted appliance keeps its pins and resumes without asking the control plane first.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import zoneinfo
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from streamfleet.addressing import TITLE_RE, AddressError, ChunkKey, parse_key

from .catalog import FileInfo

log = logging.getLogger(__name__)

_DAY_MINUTES = 24 * 60
_HHMM_RE = re.compile(r"^[0-9]{2}:[0-9]{2}$")


@dataclass(frozen=True, slots=True)
class FillWindow:
    """When and how fast this appliance may fill. Empty ``start``: no window, fill at any time."""

    start: str = ""  # local "HH:MM"
    end: str = ""  # local "HH:MM"; "24:00" is midnight; an end before the start wraps past midnight
    tz: str = ""  # IANA zone of start/end; empty (or unknown here) means UTC
    # 0: no rate limit.
    rate_bits_per_second: int = 0
    # Unix seconds until which filling runs regardless of the window; 0: not set.
    run_now_until: int = 0

    def __post_init__(self) -> None:
        """Raises ValueError for a window whose times are not HH:MM (24:00 allowed as the end)."""
        if self.start or self.end:
            for name, text, limit in (("start", self.start, 23 * 60 + 59), ("end", self.end, _DAY_MINUTES)):
                if not _HHMM_RE.match(text) or _minutes(text) > limit or int(text[3:]) > 59:
                    raise ValueError(f"fill window {name} {text!r} is not HH:MM")
        if self.rate_bits_per_second < 0:
            raise ValueError("fill rate must not be negative")


@dataclass(frozen=True, slots=True)
class FillEntry:
    title: str
    # Lower is more valuable; titles are filled in this order.
    priority: int
    # Planned bytes of the whole title (the catalog's sum of file sizes).
    bytes: int

    def __post_init__(self) -> None:
        """Raises ValueError for a title id outside the addressing scheme (it becomes a URL path)."""
        if not TITLE_RE.match(self.title):
            raise ValueError(f"invalid title id {self.title!r} in the fill manifest")


@dataclass(frozen=True, slots=True)
class FillManifest:
    """What this appliance should hold. ``version`` 0: the control plane never planned it."""

    version: int
    entries: tuple[FillEntry, ...] = ()
    window: FillWindow = FillWindow()
    origin_url: str = ""

    @property
    def titles(self) -> frozenset[str]:
        return frozenset(e.title for e in self.entries)

    @property
    def planned_bytes(self) -> int:
        return sum(e.bytes for e in self.entries)

    def to_json(self) -> dict[str, Any]:
        w = self.window
        return {
            "version": self.version,
            "entries": [{"title": e.title, "priority": e.priority, "bytes": e.bytes} for e in self.entries],
            "window": {"start": w.start, "end": w.end, "tz": w.tz,
                       "rate_bits_per_second": w.rate_bits_per_second, "run_now_until": w.run_now_until},
            "origin_url": self.origin_url,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> FillManifest:
        """Raises KeyError, TypeError or ValueError when ``doc`` is not a manifest's JSON."""
        w = doc["window"]
        window = FillWindow(str(w["start"]), str(w["end"]), str(w["tz"]),
                            int(w["rate_bits_per_second"]), int(w["run_now_until"]))
        entries = tuple(
            FillEntry(str(e["title"]), int(e["priority"]), int(e["bytes"])) for e in doc["entries"]
        )
        return cls(int(doc["version"]), entries, window, str(doc.get("origin_url", "")))


class ManifestClient(Protocol):
    """Where manifests come from (the control plane's GetFillManifest)."""

    async def fetch(self, known_version: int) -> FillManifest | None:
        """The appliance's current manifest; None when ``known_version`` is still current.

        Raises FillError when the control plane cannot be asked.
        """
        ...

    async def close(self) -> None: ...


# -- the window ----------------------------------------------------------------------------


def window_open(window: FillWindow, now_s: float) -> bool:
    """True when filling is allowed at unix time ``now_s``: inside run-now, with no window, or
    inside the window's local time (DST-aware; a window with start == end is open all day)."""
    if window.run_now_until > now_s or not window.start:
        return True
    local = dt.datetime.fromtimestamp(now_s, _zone(window.tz))
    minute = local.hour * 60 + local.minute
    start, end = _minutes(window.start), _minutes(window.end)
    if start == end:
        return True
    if start < end:
        return start <= minute < end
    return minute >= start or minute < end


def seconds_until_open(window: FillWindow, now_s: float) -> float:
    """Seconds from ``now_s`` until filling is next allowed; 0.0 when it is allowed now."""
    if window_open(window, now_s):
        return 0.0
    zone = _zone(window.tz)
    start = _minutes(window.start) % _DAY_MINUTES
    today = dt.datetime.fromtimestamp(now_s, zone).date()
    for offset in range(3):
        day = today + dt.timedelta(days=offset)
        # Both readings of the local start time: they differ only around a DST change.
        first, second = (
            dt.datetime.combine(day, dt.time(start // 60, start % 60, fold=fold), zone).timestamp()
            for fold in (0, 1)
        )
        low, high = max(min(first, second), now_s), max(first, second)
        if high <= now_s:
            continue
        if window_open(window, low):
            return low - now_s
        # The start time falls in a spring-forward gap: the window opens at the jump, which lies
        # between the two readings; find it to the second.
        while high - low > 1.0:
            middle = (low + high) / 2
            low, high = (low, middle) if window_open(window, middle) else (middle, high)
        return high - now_s
    return 86400.0  # unreachable for a valid window: some start lies within two days


def _zone(tz: str) -> dt.tzinfo:
    """The zone named ``tz``; UTC when empty or unknown to this host's tz database (logged)."""
    if not tz:
        return dt.UTC
    try:
        return zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        log.warning("unknown fill window time zone; using UTC", extra={"tz": tz})
        return dt.UTC


def _minutes(hhmm: str) -> int:
    """Minutes after midnight of "HH:MM" ("24:00" is 1440). Raises ValueError when malformed."""
    hours, _, minutes = hhmm.partition(":")
    return int(hours) * 60 + int(minutes)


# -- what to fetch --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WantedChunk:
    """One file the manifest wants on disk, with what a correct copy is."""

    key: ChunkKey
    size: int
    sha256: str


def title_chunks(title: str, files: Mapping[str, FileInfo]) -> list[WantedChunk]:
    """Every file of ``title`` (the catalog's files map) in fill order.

    Order: master playlist, DASH manifest, media playlists, init segments, then media segments
    by number with all renditions of one number together, so a title filled halfway plays from
    its start in any rendition. Keys outside the addressing scheme or of another title are skipped (logged).
    """
    out: list[WantedChunk] = []
    for cache_key, info in files.items():
        try:
            key = parse_key(cache_key)
        except AddressError:
            key = None
        if key is None or key.title != title:
            log.warning("ignoring a catalog file outside the title", extra={"title": title, "key": cache_key})
            continue
        out.append(WantedChunk(key, info.size, info.sha256))
    out.sort(key=_fill_order)
    return out


def _fill_order(chunk: WantedChunk) -> tuple[int, int, str]:
    key = chunk.key
    number = key.segment_number
    if number is not None:
        return (3, number, key.rendition)
    if not key.rendition:
        return (0, 0 if key.is_playlist else 1, "")
    return (1 if key.is_playlist else 2, 0, key.rendition)


@dataclass(frozen=True)
class FillDiff:
    """The manifest's chunks split into what the store holds and what must be fetched."""

    missing: tuple[WantedChunk, ...]
    chunks_total: int
    bytes_total: int
    bytes_present: int

    @property
    def complete(self) -> bool:
        return not self.missing


def diff(chunks: Iterable[WantedChunk], held: Callable[[ChunkKey], bool]) -> FillDiff:
    """Split ``chunks`` (in fill order) by ``held(key)``; the missing ones keep their order.

    A chunk the store holds counts as present: the store only ever holds files that were
    verified before they were committed (and the serving path re-hashes those found on disk at
    start-up on their first hit).
    """
    missing: list[WantedChunk] = []
    total = present = count = 0
    for chunk in chunks:
        count += 1
        total += chunk.size
        if held(chunk.key):
            present += chunk.size
        else:
            missing.append(chunk)
    return FillDiff(tuple(missing), count, total, present)


# -- progress -------------------------------------------------------------------------------


@dataclass
class FillStats:
    """The fill agent's progress, read by the heartbeat and /metrics. Mutated by one event loop."""

    # Version of the manifest being applied (0: none yet).
    version: int = 0
    # Bytes of every file of the manifest's titles, and how many of them are on disk.
    bytes_total: int = 0
    bytes_done: int = 0
    # idle (no manifest) | waiting (window closed) | filling | paused (viewer load) | complete
    # | incomplete (some chunks failed; retried soon)
    state: str = "idle"
    # Bytes the fill fetched (from peers or the origin) since start-up.
    bytes_filled: int = 0
    # Chunks handled by result: origin | peer | present | error | no_room.
    chunks: Counter[str] = field(default_factory=Counter)

    @property
    def complete(self) -> bool:
        return self.version > 0 and self.bytes_done >= self.bytes_total


# -- the state file -------------------------------------------------------------------------


def save_state(path: Path, manifest: FillManifest) -> None:
    """Write the applied manifest to ``path`` atomically (temp file, fsync, rename). Blocking.

    Raises OSError when the disk refuses.
    """
    temp = path.with_name(path.name + ".tmp")
    with open(temp, "w", encoding="utf-8") as fh:
        json.dump(manifest.to_json(), fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(temp, path)


def load_state(path: Path) -> FillManifest | None:
    """The manifest saved at ``path``; None when there is none or it is unreadable (logged)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("cannot read the fill state file", extra={"path": str(path), "error": str(exc)})
        return None
    try:
        return FillManifest.from_json(json.loads(text))
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring a malformed fill state file", extra={"path": str(path), "error": str(exc)})
        return None

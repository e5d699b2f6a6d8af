"""Coverage zones: an operator's file mapping client CIDRs to a site and a location, hot-reloaded.

Formats (chosen by extension, else by the first character):

* JSON list: ``{"zones": [{"cidr": "10.0.0.0/8", "site": "east", "latitude": 40.7,
  "longitude": -74.0}, ...]}`` (a bare list works too);
* JSON Traffic-Control style: ``{"coverageZones": {"east": {"network": [..], "network6": [..],
  "coordinates": {"latitude": .., "longitude": ..}}}}``;
* CSV: ``cidr,site,latitude,longitude`` per line (header optional, coordinates may be empty).

``site`` may be empty for a zone that only places its clients on the map (for geo fallback).
"""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamfleet.clientip import IPAddress, IPNetwork

from .errors import CoverageError
from .fleet import Location
from .prefixes import LpmTable

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Zone:
    """One coverage zone entry: clients in ``network`` belong to ``site`` ("" = none) at ``location``."""

    network: IPNetwork
    site: str
    location: Location | None = None


class CoverageZones:
    """Immutable longest-prefix table of zones; safe to share across tasks."""

    def __init__(self, zones: Iterable[Zone]) -> None:
        self.zones = tuple(zones)
        self._table = LpmTable((z.network, z) for z in self.zones)

    @classmethod
    def empty(cls) -> CoverageZones:
        return cls(())

    def __len__(self) -> int:
        return len(self._table)

    def lookup(self, address: IPAddress) -> Zone | None:
        """The zone of the longest network containing ``address``; None when none does."""
        return self._table.lookup(address)


def parse_coverage(text: str, fmt: str = "") -> CoverageZones:
    """Parse a coverage file's text; ``fmt`` "json", "csv" or "" (guess). Raises CoverageError."""
    fmt = fmt or ("json" if text.lstrip()[:1] in ("{", "[") else "csv")
    zones = _parse_json(text) if fmt == "json" else _parse_csv(text)
    return CoverageZones(zones)


def _parse_json(text: str) -> list[Zone]:
    try:
        data: Any = json.loads(text)
    except ValueError as exc:
        raise CoverageError(f"invalid JSON: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("coverageZones"), dict):
        zones: list[Zone] = []
        for site, entry in data["coverageZones"].items():
            if not isinstance(entry, dict):
                raise CoverageError(f"coverageZones.{site}: expected an object")
            coords = entry.get("coordinates") or {}
            location = _location(coords.get("latitude"), coords.get("longitude"), f"coverageZones.{site}")
            for key in ("network", "network6"):
                for cidr in entry.get(key) or ():
                    zones.append(Zone(_network(cidr, f"coverageZones.{site}.{key}"), str(site), location))
        return zones
    items = data.get("zones") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise CoverageError('expected {"zones": [...]}, a list, or {"coverageZones": {...}}')
    out = []
    for i, item in enumerate(items):
        where = f"zones[{i}]"
        if not isinstance(item, dict):
            raise CoverageError(f"{where}: expected an object")
        site = item.get("site", "")
        if not isinstance(site, str):
            raise CoverageError(f"{where}.site: expected a string")
        location = _location(item.get("latitude"), item.get("longitude"), where)
        out.append(Zone(_network(item.get("cidr"), f"{where}.cidr"), site.strip(), location))
    return out


def _parse_csv(text: str) -> list[Zone]:
    try:
        # newline="" lets the csv module see (and reject or keep) stray CR characters itself.
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise CoverageError(f"not a CSV file: {exc}") from None
    out = []
    for number, row in enumerate(rows, start=1):
        cells = [c.strip() for c in row]
        if not cells or not cells[0] or cells[0].startswith("#"):
            continue
        if number == 1 and cells[0].lower() in ("cidr", "network", "prefix"):
            continue  # header
        where = f"line {number}"
        cells += [""] * (4 - len(cells))
        lat, lon = (float_or_none(cells[2], where), float_or_none(cells[3], where))
        out.append(Zone(_network(cells[0], where), cells[1], _location(lat, lon, where)))
    return out


def float_or_none(text: str, where: str) -> float | None:
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise CoverageError(f"{where}: {text!r} is not a number") from None


def _network(value: object, where: str) -> IPNetwork:
    if not isinstance(value, str):
        raise CoverageError(f"{where}: expected a CIDR string")
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise CoverageError(f"{where}: {value!r} is not a CIDR") from None


def _location(lat: object, lon: object, where: str) -> Location | None:
    if lat is None and lon is None:
        return None
    if (
        isinstance(lat, bool)
        or isinstance(lon, bool)
        or not isinstance(lat, int | float)
        or not isinstance(lon, int | float)
    ):
        raise CoverageError(f"{where}: latitude and longitude must both be numbers")
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise CoverageError(f"{where}: latitude/longitude out of range")
    return Location(float(lat), float(lon))


class CoverageFile:
    """The zones of a coverage file, reloaded when the file's mtime (or size) changes.

    ``zones()`` stats the file at most every ``check_interval`` seconds (cheap enough for the
    request path, and no background task to stop). A file that cannot be read or parsed keeps
    the previous zones and logs one error per change. Use from one event loop only.
    """

    def __init__(
        self,
        path: Path,
        *,
        check_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._check_interval = check_interval
        self._clock = clock
        self._zones = CoverageZones.empty()
        self._stamp: tuple[int, int] | None = None
        self._checked_at = -float("inf")
        self.loads = 0  # successful (re)loads
        self.errors = 0  # files that could not be used
        self.last_error = ""
        self.zones()

    def zones(self) -> CoverageZones:
        """The current zones (empty until a good file was read)."""
        now = self._clock()
        if now - self._checked_at >= self._check_interval:
            self._checked_at = now
            self._maybe_reload()
        return self._zones

    def _maybe_reload(self) -> None:
        try:
            st = os.stat(self.path)
        except OSError as exc:
            self._failed((-1, -1), f"cannot stat: {exc}")
            return
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return
        try:
            text = self.path.read_text(encoding="utf-8")
            fmt = {".json": "json", ".csv": "csv"}.get(self.path.suffix.lower(), "")
            zones = parse_coverage(text, fmt)
        except (OSError, UnicodeDecodeError, CoverageError) as exc:
            self._failed(stamp, str(exc))
            return
        self._stamp = stamp
        self._zones = zones
        self.loads += 1
        self.last_error = ""
        log.info("coverage zones loaded", extra={"path": str(self.path), "zones": len(zones)})

    def _failed(self, stamp: tuple[int, int], reason: str) -> None:
        if stamp == self._stamp:
            return
        self._stamp = stamp  # log once per change of the file, not once per check
        self.errors += 1
        self.last_error = reason
        log.error(
            "coverage file unusable; keeping the previous zones",
            extra={"path": str(self.path), "reason": reason, "zones": len(self._zones)},
        )

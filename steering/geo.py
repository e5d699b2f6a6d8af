"""Geography: great-circle distance, nearest site, and client locations from a GeoIP database."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

from streamfleet.clientip import IPAddress, normalize

from .errors import GeoDatabaseError
from .fleet import Location

log = logging.getLogger(__name__)

EARTH_RADIUS_KM = 6371.0


def distance_km(a: Location, b: Location) -> float:
    """Great-circle (haversine) distance between two points, in kilometres."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a.latitude, a.longitude, b.latitude, b.longitude))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def nearest_site(here: Location, sites: Iterable[str], locations: Mapping[str, Location]) -> str | None:
    """The site of ``sites`` nearest to ``here`` (ties: lower name); None when none has a location."""
    best: tuple[float, str] | None = None
    for site in sites:
        there = locations.get(site)
        if there is None:
            continue
        key = (distance_km(here, there), site)
        if best is None or key < best:
            best = key
    return None if best is None else best[1]


class GeoLocator(Protocol):
    """Where a client address is on earth."""

    def locate(self, address: IPAddress) -> Location | None:
        """The address's location; None when unknown. Must not raise for an unknown address."""
        ...


class NoGeoLocator:
    """The null GeoLocator: no GeoIP database configured, every address is of unknown location."""

    def locate(self, address: IPAddress) -> Location | None:
        return None


class MaxMindLocator:
    """Locations from an operator-provided MaxMind-format database (GeoLite2/GeoIP2 City shape).

    Reads the local file only (nothing is downloaded). Records need
    ``{"location": {"latitude": .., "longitude": ..}}``. The reader is memory-mapped when the
    C extension is available; lookups are safe across tasks.
    """

    def __init__(self, path: Path) -> None:
        try:
            import maxminddb
        except ImportError:
            raise GeoDatabaseError(
                f"geoip_database {path} is configured but the 'maxminddb' package is not installed"
            ) from None
        try:
            self._reader: Any = maxminddb.open_database(str(path))
        except (OSError, ValueError, RuntimeError) as exc:  # InvalidDatabaseError is a RuntimeError
            raise GeoDatabaseError(f"cannot open geoip_database {path}: {exc}") from None
        self.path = path

    def locate(self, address: IPAddress) -> Location | None:
        try:
            record = self._reader.get(str(normalize(address)))
        except ValueError:
            # e.g. an IPv6 address against an IPv4-only database
            return None
        return location_of(record)

    def close(self) -> None:
        self._reader.close()


def location_of(record: object) -> Location | None:
    """The location in a GeoIP record, or None when it carries none."""
    if not isinstance(record, Mapping):
        return None
    loc = record.get("location")
    if not isinstance(loc, Mapping):
        return None
    lat, lon = loc.get("latitude"), loc.get("longitude")
    if not isinstance(lat, int | float) or not isinstance(lon, int | float):
        return None
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return None
    return Location(float(lat), float(lon))

"""Localization: which site serves a client, and which rule decided it.

In order, the first that gives a site with a HEALTHY appliance wins:

1. ``prefix``: the longest client prefix advertised by the fleet's appliances;
2. ``coverage``: the longest network of the operator's coverage-zone file;
3. ``geo``: the healthy site nearest (great circle) to the client's location, taken from the
   matched coverage zone's coordinates, else from the GeoIP database;
4. ``fallback``: the configured fallback sites of the site found by 1 or 2 (else of the
   default site), in their order;
5. ``default``: the configured default site (its appliances may all be away: the ranking then
   offers other sites and the origin).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from streamfleet.clientip import IPAddress

from .coverage import CoverageZones
from .fleet import FleetView, Location
from .geo import GeoLocator, NoGeoLocator, nearest_site

PREFIX, COVERAGE, GEO, FALLBACK, DEFAULT = "prefix", "coverage", "geo", "fallback", "default"


@dataclass(frozen=True, slots=True)
class Localization:
    site: str
    reason: str  # PREFIX, COVERAGE, GEO, FALLBACK or DEFAULT
    # The site the client belongs to by prefix or coverage zone, even when it could not serve
    # (then ``site`` differs); None when neither matched.
    home: str | None = None
    # Where the client is, when a coverage zone or the GeoIP database said so.
    location: Location | None = None


def localize(
    view: FleetView,
    client: IPAddress | None,
    *,
    default_site: str,
    zones: CoverageZones | None = None,
    geo: GeoLocator | None = None,
    fallback_sites: Mapping[str, tuple[str, ...]] | None = None,
) -> Localization:
    """Decide the client's site (``client`` None: unknown address). Pure; safe across tasks."""
    home: str | None = None
    location: Location | None = None
    if client is not None:
        by_prefix = view.site_for(client)
        if by_prefix is not None:
            if view.has_healthy(by_prefix):
                return Localization(by_prefix, PREFIX, by_prefix)
            home = by_prefix
        zone = zones.lookup(client) if zones is not None else None
        if zone is not None:
            if zone.site and view.has_healthy(zone.site):
                return Localization(zone.site, COVERAGE, home or zone.site, zone.location)
            home = home or zone.site or None
            location = zone.location
        if location is None:
            location = (geo or NoGeoLocator()).locate(client)
        if location is not None:
            near = nearest_site(location, view.healthy_sites(), view.site_locations())
            if near is not None:
                return Localization(near, GEO, home, location)
    for site in (fallback_sites or {}).get(home or default_site, ()):
        if view.has_healthy(site):
            return Localization(site, FALLBACK, home, location)
    return Localization(default_site, DEFAULT, home, location)

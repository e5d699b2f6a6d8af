from __future__ import annotations

import ipaddress

from steering.coverage import CoverageZones, parse_coverage
from steering.fleet import FleetView, Health, Location
from steering.localize import Localization, localize
from streamfleet.clientip import IPAddress

from .fakes import appliance

NYC, SF, LONDON = Location(40.7, -74.0), Location(37.8, -122.4), Location(51.5, -0.1)


class FakeGeo:
    def __init__(self, table: dict[str, Location]) -> None:
        self.table = table
        self.asked: list[str] = []

    def locate(self, address: IPAddress) -> Location | None:
        self.asked.append(str(address))
        return self.table.get(str(address))


def fleet(*, east: Health = Health.HEALTHY, west: Health = Health.HEALTHY) -> FleetView:
    return FleetView(
        1,
        [
            appliance(
                "east-1", "east", health=east, prefixes=("10.1.0.0/16", "2001:db8:e::/48"), location=NYC
            ),
            appliance("west-1", "west", health=west, prefixes=("10.2.0.0/16",), location=SF),
            appliance("london-1", "london", location=LONDON),
        ],
    )


ZONES = parse_coverage(
    "10.0.0.0/8,west,37.0,-122.0\n"  # shorter than the advertised /16s: prefixes win
    "172.16.0.0/12,east,,\n"
    "172.20.0.0/16,,51.0,0.0\n"  # location only
    "2001:db8:c::/48,london,,\n"
    "192.0.2.0/24,east,40.0,-74.0\n"
)


def loc(view: FleetView, address: str | None, **kw: object) -> Localization:
    client = ipaddress.ip_address(address) if address else None
    return localize(view, client, default_site="dflt", **kw)  # type: ignore[arg-type]


def pair(got: Localization) -> tuple[str, str]:
    return (got.site, got.reason)


def test_prefix_first_for_v4_and_v6() -> None:
    assert loc(fleet(), "10.1.2.3", zones=ZONES) == Localization("east", "prefix", "east")
    assert loc(fleet(), "2001:db8:e::9", zones=ZONES).site == "east"
    assert loc(fleet(), "10.2.0.1", zones=ZONES).reason == "prefix"


def test_coverage_zone_when_no_prefix_matches() -> None:
    assert loc(fleet(), "172.16.0.1", zones=ZONES) == Localization("east", "coverage", "east", None)
    assert loc(fleet(), "10.200.0.1", zones=ZONES).site == "west"
    assert pair(loc(fleet(), "2001:db8:c::1", zones=ZONES)) == ("london", "coverage")


def test_geo_from_the_zone_location_when_its_site_cannot_serve() -> None:
    # 192.0.2.0/24 belongs to east, which is down. From (40, -74): SF ~4,130 km, London ~5,570 km.
    got = loc(fleet(east=Health.DOWN), "192.0.2.1", zones=ZONES)
    assert (got.site, got.reason, got.home, got.location) == ("west", "geo", "east", Location(40.0, -74.0))
    # A zone with a location and no site.
    got = loc(fleet(), "172.20.1.1", zones=ZONES)
    assert (got.site, got.reason, got.home) == ("london", "geo", None)


def test_geo_from_the_geoip_database_when_no_zone_matches() -> None:
    geo = FakeGeo({"198.51.100.7": Location(48.9, 2.3)})
    got = loc(fleet(), "198.51.100.7", zones=ZONES, geo=geo)
    assert (got.site, got.reason) == ("london", "geo")
    assert loc(fleet(), "198.51.100.8", zones=ZONES, geo=geo).reason == "default"
    # The database is not asked when the prefix or the zone decided.
    geo.asked.clear()
    loc(fleet(), "10.1.0.1", zones=ZONES, geo=geo)
    loc(fleet(), "172.16.0.1", zones=ZONES, geo=geo)
    assert geo.asked == []


def test_prefix_site_down_then_coverage_then_fallbacks_then_default() -> None:
    view = fleet(east=Health.DOWN)
    fallbacks = {"east": ("nowhere", "down-too", "london", "west"), "dflt": ("west",)}
    # 10.1/16 is east's and east is down; the 10/8 zone (west) is the next rule.
    assert pair(loc(view, "10.1.0.1", zones=ZONES, fallback_sites=fallbacks)) == ("west", "coverage")
    got = loc(view, "10.1.0.1", fallback_sites=fallbacks)
    assert (got.site, got.reason, got.home) == ("london", "fallback", "east")
    # No rule at all: the default site's own fallbacks, then the default site itself.
    assert pair(loc(view, "203.0.113.1", fallback_sites=fallbacks)) == ("west", "fallback")
    got = loc(view, "203.0.113.1")
    assert (got.site, got.reason, got.home) == ("dflt", "default", None)
    assert loc(view, None).reason == "default"


def test_everything_down_gives_the_default_site() -> None:
    view = FleetView(1, [appliance("e", "east", health=Health.DOWN, prefixes=("10.0.0.0/8",), location=NYC)])
    got = loc(view, "10.0.0.1", zones=ZONES, geo=FakeGeo({"10.0.0.1": NYC}), fallback_sites={"east": ("x",)})
    assert (got.site, got.reason, got.home) == ("dflt", "default", "east")


def test_empty_zones_change_nothing() -> None:
    assert loc(fleet(), "172.16.0.1", zones=CoverageZones.empty()).reason == "default"

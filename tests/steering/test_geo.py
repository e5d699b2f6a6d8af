from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from steering.errors import GeoDatabaseError
from steering.fleet import Location
from steering.geo import MaxMindLocator, distance_km, location_of, nearest_site

PARIS, LONDON, TOKYO = Location(48.86, 2.35), Location(51.51, -0.13), Location(35.68, 139.69)


def test_great_circle_distance() -> None:
    assert distance_km(PARIS, PARIS) == 0.0
    assert 330 < distance_km(PARIS, LONDON) < 350
    assert distance_km(PARIS, TOKYO) == pytest.approx(distance_km(TOKYO, PARIS))
    assert 9600 < distance_km(PARIS, TOKYO) < 9800
    # Across the antimeridian: Fiji to Samoa is ~1,150 km, not ~20,000.
    assert distance_km(Location(-18.1, 178.4), Location(-13.8, -171.8)) < 1300


def test_nearest_site_ignores_sites_without_location_and_breaks_ties_by_name() -> None:
    locations = {"london": LONDON, "tokyo": TOKYO, "b-paris": PARIS, "a-paris": PARIS}
    assert nearest_site(Location(50.0, 1.0), ["tokyo", "london", "unknown"], locations) == "london"
    assert nearest_site(PARIS, ["b-paris", "a-paris", "tokyo"], locations) == "a-paris"
    assert nearest_site(PARIS, ["unknown"], locations) is None


def test_location_of_record_validation() -> None:
    assert location_of({"location": {"latitude": 1, "longitude": 2.5}}) == Location(1.0, 2.5)
    assert location_of({"location": {"latitude": 100, "longitude": 0}}) is None
    assert location_of({"country": {"iso_code": "FR"}}) is None
    assert location_of(None) is None


def test_maxmind_database_lookups(tmp_path: Path) -> None:
    writer_module = pytest.importorskip("mmdb_writer")
    netaddr = pytest.importorskip("netaddr")
    writer = writer_module.MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-City")
    writer.insert_network(
        netaddr.IPSet(["203.0.113.0/24"]), {"location": {"latitude": 48.86, "longitude": 2.35}}
    )
    writer.insert_network(
        netaddr.IPSet(["2001:db8:77::/48"]), {"location": {"latitude": 35.68, "longitude": 139.69}}
    )
    writer.insert_network(netaddr.IPSet(["198.51.100.0/24"]), {"country": {"iso_code": "XX"}})
    path = tmp_path / "city.mmdb"
    writer.to_db_file(str(path))

    geo = MaxMindLocator(path)
    try:
        assert geo.locate(ipaddress.ip_address("203.0.113.9")) == PARIS
        assert geo.locate(ipaddress.ip_address("::ffff:203.0.113.9")) == PARIS
        assert geo.locate(ipaddress.ip_address("2001:db8:77::1")) == TOKYO
        assert geo.locate(ipaddress.ip_address("198.51.100.1")) is None
        assert geo.locate(ipaddress.ip_address("192.0.2.1")) is None
    finally:
        geo.close()


def test_unusable_database_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(GeoDatabaseError, match="absent.mmdb"):
        MaxMindLocator(tmp_path / "absent.mmdb")
    junk = tmp_path / "junk.mmdb"
    junk.write_bytes(b"not a database")
    with pytest.raises(GeoDatabaseError):
        MaxMindLocator(junk)

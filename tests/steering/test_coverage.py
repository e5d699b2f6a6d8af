from __future__ import annotations

import ipaddress
import json
import logging
import os
from pathlib import Path

import pytest

from steering.coverage import CoverageFile, CoverageZones, Zone, parse_coverage
from steering.errors import CoverageError
from steering.fleet import Location


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


def site_of(zones: CoverageZones, address: str) -> str | None:
    zone = zones.lookup(ip(address))
    return None if zone is None else zone.site


def test_json_list_format_longest_match_v4_and_v6() -> None:
    zones = parse_coverage(
        json.dumps(
            {
                "zones": [
                    {"cidr": "10.0.0.0/8", "site": "east", "latitude": 40.7, "longitude": -74.0},
                    {"cidr": "10.9.0.0/16", "site": "west"},
                    {"cidr": "2001:db8:aa::/48", "site": "north", "latitude": 60.0, "longitude": 10.0},
                    {"cidr": "192.0.2.0/24", "latitude": 51.5, "longitude": -0.1},
                ]
            }
        )
    )
    assert len(zones) == 4
    assert site_of(zones, "10.1.1.1") == "east"
    assert site_of(zones, "10.9.1.1") == "west"
    assert site_of(zones, "::ffff:10.9.1.1") == "west"
    assert zones.lookup(ip("2001:db8:aa::5")) == Zone(
        ipaddress.ip_network("2001:db8:aa::/48"), "north", Location(60.0, 10.0)
    )
    location_only = zones.lookup(ip("192.0.2.7"))
    assert (
        location_only is not None
        and location_only.site == ""
        and location_only.location == Location(51.5, -0.1)
    )
    assert zones.lookup(ip("11.0.0.1")) is None


def test_traffic_control_style_json() -> None:
    zones = parse_coverage(
        json.dumps(
            {
                "coverageZones": {
                    "east": {
                        "network": ["10.1.0.0/16"],
                        "network6": ["2001:db8:e::/48"],
                        "coordinates": {"latitude": 40.0, "longitude": -75.0},
                    },
                    "west": {"network": ["10.2.0.0/16"]},
                }
            }
        )
    )
    assert site_of(zones, "10.1.2.3") == "east" and site_of(zones, "2001:db8:e::1") == "east"
    west = zones.lookup(ip("10.2.0.1"))
    assert west is not None and west.site == "west" and west.location is None


def test_csv_with_header_comments_and_optional_coordinates() -> None:
    text = "cidr,site,latitude,longitude\n# comment\n10.1.0.0/16,east,40.7,-74.0\n\n2001:db8::/32,west,,\n"
    zones = parse_coverage(text)
    east = zones.lookup(ip("10.1.5.5"))
    assert east is not None and east.location == Location(40.7, -74.0)
    assert site_of(zones, "2001:db8::1") == "west"


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        '{"zones": [{"cidr": "not-a-cidr", "site": "x"}]}',
        '{"zones": [{"cidr": "10.0.0.0/8", "site": 5}]}',
        '{"zones": [{"cidr": "10.0.0.0/8", "latitude": 91, "longitude": 0}]}',
        '{"zones": [{"cidr": "10.0.0.0/8", "latitude": 10}]}',
        '{"zones": "nope"}',
        "10.0.0.0/8,east,north,0\n",
        "300.0.0.0/8,east\n",
    ],
)
def test_bad_files_raise_coverage_error(text: str) -> None:
    with pytest.raises(CoverageError):
        parse_coverage(text)


def _write(path: Path, text: str, mtime_ns: int) -> None:
    path.write_text(text)
    os.utime(path, ns=(mtime_ns, mtime_ns))


def test_hot_reload_on_mtime_change_and_bad_files_keep_the_previous_zones(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "zones.csv"
    _write(path, "10.0.0.0/8,east\n", 1_000_000_000)
    now = [0.0]
    source = CoverageFile(path, check_interval=1.0, clock=lambda: now[0])
    assert site_of(source.zones(), "10.1.1.1") == "east" and source.loads == 1

    _write(path, "10.0.0.0/8,west\n", 2_000_000_000)
    assert site_of(source.zones(), "10.1.1.1") == "east"  # not checked again within the interval
    now[0] = 1.0
    assert site_of(source.zones(), "10.1.1.1") == "west" and source.loads == 2

    with caplog.at_level(logging.ERROR, logger="steering.coverage"):
        _write(path, "10.0.0.0/8,west\nbroken-line,x\n", 3_000_000_000)
        now[0] = 2.0
        assert site_of(source.zones(), "10.1.1.1") == "west"
        now[0] = 3.0
        source.zones()  # the same bad file is reported once
    assert source.errors == 1 and "broken-line" in source.last_error
    assert len([r for r in caplog.records if "coverage file unusable" in r.message]) == 1

    path.unlink()
    now[0] = 4.0
    assert site_of(source.zones(), "10.1.1.1") == "west" and source.errors == 2

    _write(path, "10.0.0.0/8,north,60,10\n", 5_000_000_000)
    now[0] = 5.0
    assert site_of(source.zones(), "10.1.1.1") == "north" and source.last_error == ""


def test_missing_file_at_start_gives_no_zones(tmp_path: Path) -> None:
    source = CoverageFile(tmp_path / "absent.json", clock=lambda: 0.0)
    assert len(source.zones()) == 0 and source.errors == 1

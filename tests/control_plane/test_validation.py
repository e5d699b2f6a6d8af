"""What appliances send is checked and put into canonical form; errors name the field."""

from __future__ import annotations

import pytest

from control_plane import validation
from control_plane.errors import InvalidRequest
from control_plane.model import Location


def test_prefixes_are_canonical_sorted_and_unique() -> None:
    got = validation.client_prefixes(["2001:DB8:0::/32", "10.0.0.0/8", " 10.0.0.0/8", "192.0.2.7"])
    assert got == ("10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32")


@pytest.mark.parametrize("bad", ["10.0.0.1/8", "10.0.0.0/33", "example.com", "", "2001:db8::/129"])
def test_bad_prefixes_are_refused(bad: str) -> None:
    with pytest.raises(InvalidRequest, match="client_prefixes"):
        validation.client_prefixes(["10.0.0.0/8", bad])


@pytest.mark.parametrize("good", ["ams", "isp-a_paris-1", "0"])
def test_good_sites(good: str) -> None:
    assert validation.site(good) == good


@pytest.mark.parametrize("bad", ["", "AMS", "a b", "-ams", "ams/1", "x" * 64])
def test_bad_sites(bad: str) -> None:
    with pytest.raises(InvalidRequest, match="site"):
        validation.site(bad)


@pytest.mark.parametrize("bad", ["", "a b", "../etc", "é"])
def test_bad_appliance_ids(bad: str) -> None:
    with pytest.raises(InvalidRequest, match="appliance_id"):
        validation.appliance_id(bad)


def test_http_url() -> None:
    assert validation.http_url("http://127.0.0.1:8081/") == "http://127.0.0.1:8081"
    assert validation.http_url("https://[::1]:8443") == "https://[::1]:8443"
    for bad in ("", "127.0.0.1:8081", "ftp://x", "http://u:p@x", "http://x?a=1", "http://x:99999"):
        with pytest.raises(InvalidRequest, match="http_url"):
            validation.http_url(bad)


def test_location_titles_and_numbers() -> None:
    assert validation.location(-90.0, 180.0) == Location(-90.0, 180.0)
    with pytest.raises(InvalidRequest, match="latitude"):
        validation.location(91.0, 0.0)
    with pytest.raises(InvalidRequest, match="longitude"):
        validation.location(0.0, float("nan"))
    assert validation.titles(["b-title", "a-title", "b-title"]) == ("a-title", "b-title")
    with pytest.raises(InvalidRequest, match="titles"):
        validation.titles(["Not A Title"])
    with pytest.raises(InvalidRequest, match="error_ratio"):
        validation.error_ratio(1.5)
    with pytest.raises(InvalidRequest, match="capacity_bytes"):
        validation.byte_count("capacity_bytes", 2**64 - 1)

from __future__ import annotations

import ipaddress

from steering.fleet import FleetView, Health, StaticFleet
from streamfleet.placement import Member, Placement

from .fakes import TB, appliance, two_sites


def test_placement_holds_only_healthy_appliances_weighted_by_capacity() -> None:
    view = two_sites()
    east = view.placement("east")
    assert east is not None
    assert [m.id for m in east.members] == ["east-1", "east-2", "east-3"]
    assert {m.id: m.weight for m in east.members}["east-3"] == 2 * TB
    assert view.healthy_count == 6
    assert view.healthy_sites() == ("east", "north", "west")


def test_site_without_healthy_appliances_has_no_placement() -> None:
    view = FleetView(1, [appliance("a", "s", health=Health.DOWN)])
    assert view.placement("s") is None
    assert view.placement("nowhere") is None


def test_prefix_conflict_prefers_a_healthy_advertiser_then_the_lower_site() -> None:
    view = FleetView(
        1,
        [
            appliance("a", "alpha", health=Health.DOWN, prefixes=("10.0.0.0/8",)),
            appliance("b", "beta", prefixes=("10.0.0.0/8", "192.0.2.0/24")),
            appliance("c", "gamma", prefixes=("192.0.2.0/24",)),
        ],
    )
    assert view.site_for(ipaddress.ip_address("10.1.1.1")) == "beta"
    assert view.site_for(ipaddress.ip_address("192.0.2.1")) == "beta"


def test_invalid_prefixes_are_set_aside_not_fatal() -> None:
    view = FleetView(1, [appliance("a", "s", prefixes=("not-a-prefix", "10.0.0.0/8", "10.0.0.1/33"))])
    assert view.rejected_prefixes == ("a:not-a-prefix", "a:10.0.0.1/33")
    assert view.site_for(ipaddress.ip_address("10.0.0.1")) == "s"


def test_non_strict_prefix_is_accepted() -> None:
    view = FleetView(1, [appliance("a", "s", prefixes=("10.1.2.3/16",))])
    assert view.site_for(ipaddress.ip_address("10.1.200.1")) == "s"


def test_view_is_independent_of_appliance_order() -> None:
    forward = two_sites()
    backward = FleetView(forward.version, reversed(forward.appliances))
    assert forward.appliances == backward.appliances
    for site in forward.sites:
        a, b = forward.placement(site), backward.placement(site)
        assert a is not None and b is not None
        assert a.rank("some-title") == b.rank("some-title")


def test_zero_capacity_still_takes_part() -> None:
    view = FleetView(1, [appliance("a", "s", capacity=0), appliance("b", "s", capacity=0)])
    placement = view.placement("s")
    assert placement is not None
    assert placement.rank("t") == Placement([Member("a"), Member("b")]).rank("t")


def test_static_fleet_reports_age_from_its_clock() -> None:
    now = [100.0]
    source = StaticFleet(FleetView.empty(), connected=False, clock=lambda: now[0])
    now[0] = 103.5
    assert source.age_seconds() == 3.5
    assert not source.connected
    assert source.view.version == 0

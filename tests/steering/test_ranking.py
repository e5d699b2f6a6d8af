from __future__ import annotations

import ipaddress

from steering.fleet import FleetView, Health, Location
from steering.ranking import OTHER_SITE, PLACEMENT, Decision, Miss, RankingPolicy, choose
from streamfleet.placement import Member, Placement

from .fakes import TB, appliance, two_sites

ORIGIN = "http://origin.example:8000"
POLICY = RankingPolicy(default_site="west", max_appliance_urls=10, origin_url=ORIGIN + "/")


def ids(decision: Decision) -> list[str | None]:
    return [c.appliance for c in decision.candidates]


def test_client_site_first_in_placement_order_then_other_sites_then_origin() -> None:
    view = two_sites()
    for title in ("alpha", "bravo", "charlie", "delta"):
        d = choose(view, ipaddress.ip_address("10.1.9.9"), title, POLICY)
        assert (d.site, d.site_reason) == ("east", "prefix")
        expected_east = Placement(
            [Member("east-1", TB), Member("east-2", TB), Member("east-3", 2 * TB)]
        ).rank(title)
        assert ids(d)[:3] == expected_east
        assert {c.reason for c in d.candidates[:3]} == {PLACEMENT}
        assert sorted(i for i in ids(d)[3:-2] if i) == ["north-1", "west-1", "west-2"]
        assert {c.reason for c in d.candidates[3:-2]} == {OTHER_SITE}
        # The client site's degraded appliance comes after every healthy one.
        assert (ids(d)[-2], d.candidates[-2].reason) == ("east-4", "degraded")
        last = d.candidates[-1]
        assert (last.kind, last.appliance, last.site, last.reason) == ("origin", None, None, "origin")
        assert last.base_url == ORIGIN
        assert [c.kind for c in d.candidates].count("origin") == 1


def test_down_and_draining_appliances_are_never_ranked_and_degraded_never_before_healthy() -> None:
    view = two_sites()
    for client in ("10.1.0.1", "10.2.0.1", "10.3.0.1"):
        for title in (f"title-{i}" for i in range(50)):
            d = choose(view, ipaddress.ip_address(client), title, POLICY)
            ranked = ids(d)
            assert not set(ranked) & {"east-5", "west-3"}
            if "east-4" in ranked:
                assert ranked.index("east-4") == len(ranked) - 2


def test_degraded_appliances_are_never_first() -> None:
    view = FleetView(1, [appliance("d1", "s", health=Health.DEGRADED, prefixes=("10.0.0.0/8",))])
    d = choose(view, ipaddress.ip_address("10.0.0.1"), "t", POLICY)
    assert ids(d) == [None]


def test_longest_prefix_decides_the_site() -> None:
    view = two_sites()
    assert choose(view, ipaddress.ip_address("10.2.3.4"), "t", POLICY).site == "west"
    assert choose(view, ipaddress.ip_address("10.3.3.4"), "t", POLICY).site == "north"
    assert choose(view, ipaddress.ip_address("2001:db8:e::1"), "t", POLICY).site == "east"


def test_unmatched_or_unknown_client_gets_the_default_site() -> None:
    view = two_sites()
    for client in (ipaddress.ip_address("192.0.2.1"), ipaddress.ip_address("2001:db8:f::1"), None):
        d = choose(view, client, "t", POLICY)
        assert (d.site, d.site_reason) == ("west", "default")
        assert set(ids(d)[:2]) == {"west-1", "west-2"}


def test_default_site_missing_from_the_fleet_ranks_every_healthy_site_as_other() -> None:
    d = choose(two_sites(), None, "t", RankingPolicy(default_site="nowhere", max_appliance_urls=10))
    assert (d.site, d.site_reason) == ("nowhere", "default")
    assert {c.reason for c in d.candidates[:-2]} == {OTHER_SITE}
    assert len(d.candidates) == 7  # 6 healthy appliances and the origin
    # Interleaved by rank across sites in name order: every site's first choice comes first.
    assert [c.site for c in d.candidates[:3]] == ["east", "north", "west"]


def test_cap_counts_appliances_only() -> None:
    view = two_sites()
    d = choose(view, ipaddress.ip_address("10.1.0.1"), "t", RankingPolicy(max_appliance_urls=2))
    assert [c.kind for c in d.candidates] == ["appliance", "appliance", "origin"]
    d0 = choose(view, ipaddress.ip_address("10.1.0.1"), "t", RankingPolicy(max_appliance_urls=0))
    assert [c.kind for c in d0.candidates] == ["origin"]


def test_deterministic_and_order_independent() -> None:
    view = two_sites()
    shuffled = FleetView(view.version, reversed(view.appliances))
    client = ipaddress.ip_address("10.1.0.1")
    for title in (f"t-{i}" for i in range(30)):
        assert choose(view, client, title, POLICY) == choose(shuffled, client, title, POLICY)


def test_empty_fleet_sends_everyone_to_the_origin() -> None:
    d = choose(FleetView.empty(), ipaddress.ip_address("10.1.0.1"), "t", POLICY)
    assert (d.site, d.site_reason) == ("west", "default")
    assert [c.kind for c in d.candidates] == ["origin"]


def test_client_site_with_nobody_healthy_goes_to_the_default_site_and_counts_a_health_miss() -> None:
    view = FleetView(
        1,
        [
            appliance("e1", "east", health=Health.DOWN, prefixes=("10.0.0.0/8",)),
            appliance("w1", "west"),
        ],
    )
    d = choose(view, ipaddress.ip_address("10.0.0.1"), "t", POLICY)
    assert (d.site, d.site_reason) == ("west", "default")
    assert ids(d) == ["w1", None]
    assert d.candidates[0].reason == PLACEMENT
    assert d.miss == Miss("east", "health")


def test_other_sites_nearest_first_when_locations_are_known() -> None:
    paris, london, tokyo = Location(48.86, 2.35), Location(51.51, -0.13), Location(35.68, 139.69)
    view = FleetView(
        1,
        [
            appliance("p1", "paris", location=paris, prefixes=("10.0.0.0/8",)),
            appliance("a1", "a-tokyo", location=tokyo),
            appliance("z1", "z-london", location=london),
            appliance("n1", "nowhere-known"),
        ],
    )
    d = choose(view, ipaddress.ip_address("10.0.0.1"), "t", POLICY)
    assert ids(d) == ["p1", "z1", "a1", "n1", None]


def test_appliance_url_has_no_trailing_slash() -> None:
    d = choose(two_sites(), ipaddress.ip_address("10.1.0.1"), "t", POLICY)
    assert all(not c.base_url.endswith("/") for c in d.candidates)

"""The stateful Ranker: replicas first, bounded load, misses, fallback sites, the plan cache."""

from __future__ import annotations

import ipaddress
import math
from collections import Counter
from collections.abc import Mapping

from steering.fleet import FleetView, Health
from steering.ranking import (
    FALLBACK_SITE,
    OTHER_SITE,
    OVER_BOUND,
    PLACEMENT,
    REPLICA,
    Miss,
    Ranker,
    RankingPolicy,
)
from streamfleet.placement import Member, Placement, capacity_weight

from .fakes import TB, appliance, two_sites

CLIENT = ipaddress.ip_address("10.1.0.1")
POLICY = RankingPolicy(default_site="east", max_appliance_urls=10, origin_url="http://origin:8000")


def site_view(per_appliance: Mapping[str, Mapping[str, object]] | None = None, version: int = 1) -> FleetView:
    """east: s1..s4 (1 TB each), prefix 10.1/16, with per-appliance overrides; west: w1."""
    apps = []
    for ident in ("s1", "s2", "s3", "s4"):
        kw = dict((per_appliance or {}).get(ident, {}))
        apps.append(appliance(ident, "east", prefixes=("10.1.0.0/16",), **kw))  # type: ignore[arg-type]
    apps.append(appliance("w1", "west"))
    return FleetView(version, apps)


def placement_order(title: str, ids: tuple[str, ...] = ("s1", "s2", "s3", "s4")) -> list[str]:
    return Placement([Member(i, capacity_weight(TB)) for i in ids]).rank(title)


def ids(ranker: Ranker, view: FleetView, title: str, client: object = CLIENT) -> list[str | None]:
    return [c.appliance for c in ranker.choose(view, client, title).candidates]  # type: ignore[arg-type]


def test_replicas_first_keeping_placement_order_in_each_group() -> None:
    for n in range(30):
        title = f"film-{n}"
        order = placement_order(title)
        holders = {order[3], order[1]}
        view = site_view({h: {"titles": (title,)} for h in holders})
        d = Ranker(POLICY).choose(view, CLIENT, title)
        got = [c.appliance for c in d.candidates[:4]]
        assert got == [order[1], order[3], order[0], order[2]]
        assert [c.reason for c in d.candidates[:4]] == [REPLICA, REPLICA, PLACEMENT, PLACEMENT]
        assert d.miss is None


def test_over_bound_appliance_is_pushed_down_not_removed() -> None:
    title = "hot"
    order = placement_order(title)
    view = site_view({order[0]: {"connections": 100}, order[1]: {"connections": 10}})
    d = Ranker(POLICY).choose(view, CLIENT, title)
    # total 110 over 4 appliances: bound ceil(1.25 * 111 / 4) = 35; only the first is over.
    assert [c.appliance for c in d.candidates[:4]] == [order[1], order[2], order[3], order[0]]
    assert d.candidates[3].reason == OVER_BOUND
    assert d.miss == Miss("east", "content")  # nobody reports holding "hot"


def test_a_hot_title_spreads_within_the_bound_and_returns_when_load_decays() -> None:
    now = [0.0]
    title = "premiere"
    view = site_view({i: {"titles": (title,)} for i in ("s1", "s2", "s3", "s4")})
    ranker = Ranker(POLICY, clock=lambda: now[0], assignment_window=5.0)
    firsts = Counter(ranker.choose(view, CLIENT, title).candidates[0].appliance for _ in range(400))
    assert set(firsts) == {"s1", "s2", "s3", "s4"}
    assert max(firsts.values()) <= math.ceil(1.25 * 401 / 4)
    # Without load, everyone would go to placement's first.
    assert firsts[placement_order(title)[0]] == max(firsts.values())
    now[0] = 120.0
    assert ranker.choose(view, CLIENT, title).candidates[0].appliance == placement_order(title)[0]


def test_a_few_viewers_stay_on_the_filled_appliance() -> None:
    # Below the floor the bound never bites: the handful of viewers all land where the title is.
    title = "quiet"
    view = site_view({i: {"connections": 1} for i in ("s1", "s2", "s3", "s4")})
    ranker = Ranker(POLICY)
    firsts = {ranker.choose(view, CLIENT, title).candidates[0].appliance for _ in range(5)}
    assert firsts == {placement_order(title)[0]}
    strict = Ranker(RankingPolicy(default_site="east", load_bound_floor=0.0))
    assert len({strict.choose(view, CLIENT, title).candidates[0].appliance for _ in range(5)}) > 1


def test_miss_kinds() -> None:
    title = "film"
    best = placement_order(title)[0]
    others = [i for i in ("s1", "s2", "s3", "s4") if i != best]
    held_by_best = {best: {"titles": (title,)}}
    assert Ranker(POLICY).choose(site_view(held_by_best), CLIENT, title).miss is None
    # Held by someone else in the site: the best appliance can still be used (it will fill); no miss.
    held_elsewhere = {others[0]: {"titles": (title,)}}
    assert Ranker(POLICY).choose(site_view(held_elsewhere), CLIENT, title).miss is None
    # Nobody in the site holds it.
    assert Ranker(POLICY).choose(site_view(), CLIENT, title).miss == Miss("east", "content")
    # The best is down, draining or degraded: health (and it is never ranked first).
    for health in (Health.DOWN, Health.DRAINING, Health.DEGRADED):
        view = site_view({best: {"titles": (title,), "health": health}, others[0]: {"titles": (title,)}})
        d = Ranker(POLICY).choose(view, CLIENT, title)
        assert d.miss == Miss("east", "health")
        assert d.candidates[0].appliance == others[0]
    # The best is over the load bound.
    view = site_view({best: {"titles": (title,), "connections": 50}})
    d = Ranker(POLICY).choose(view, CLIENT, title)
    assert d.miss == Miss("east", "health") and d.candidates[0].appliance != best


def test_fallback_sites_come_before_other_sites() -> None:
    view = two_sites()
    policy = RankingPolicy(max_appliance_urls=10, fallback_sites={"east": ("west",)})
    d = Ranker(policy).choose(view, CLIENT, "t")
    reasons = [c.reason for c in d.candidates]
    assert [c.site for c in d.candidates if c.reason == FALLBACK_SITE] == ["west", "west"]
    assert reasons.index(FALLBACK_SITE) < reasons.index(OTHER_SITE)
    assert [c.site for c in d.candidates if c.reason == OTHER_SITE] == ["north"]


def test_default_answer_has_three_urls_over_two_appliances_and_the_origin_last() -> None:
    d = Ranker(RankingPolicy(default_site="west")).choose(two_sites(), CLIENT, "t")
    assert len(d.candidates) >= 3
    assert len({c.appliance for c in d.candidates if c.appliance}) >= 2
    assert d.candidates[-1].kind == "origin" and all(c.kind == "appliance" for c in d.candidates[:-1])


def test_site_plans_are_cached_per_fleet_version() -> None:
    ranker = Ranker(POLICY)
    v1 = site_view(version=1)
    plan = ranker.plan(v1, "east", "t")
    assert ranker.plan(v1, "east", "t") is plan
    assert ranker.plan(site_view(version=1), "east", "t") is plan  # same version, same answer
    v2 = site_view({"s1": {"health": Health.DOWN}}, version=2)
    assert ranker.plan(v2, "east", "t") is not plan
    assert "s1" not in [c.appliance for c in ranker.plan(v2, "east", "t").own]

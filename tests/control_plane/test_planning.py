"""Fill planning properties: capacity, replicas by popularity, Placement order, determinism, churn."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

import numpy as np
import pytest

from control_plane.catalog import CatalogTitle
from control_plane.packing import HeadCache
from control_plane.planning import (
    FillPlan,
    PlanAppliance,
    PlanPolicy,
    SitePlan,
    plan_fleet,
    plan_site,
    replica_counts,
)
from streamfleet.placement import Member, Placement

GB = 10**9


def catalog(n: int, seed: int = 1) -> list[CatalogTitle]:
    rng = random.Random(seed)
    return [CatalogTitle(f"title-{i:04d}", int(rng.lognormvariate(0, 0.7) * GB)) for i in range(n)]


def zipf(n: int, seed: int = 1) -> np.ndarray:
    order = np.random.default_rng(seed).permutation(n)
    scores: np.ndarray = 1000.0 / (order + 1.0) ** 0.9
    return scores


def appliances(n: int, total_bytes: int, site: str = "ams") -> list[PlanAppliance]:
    """``n`` appliances sharing ``total_bytes``; every third one twice the size of the others."""
    units = [2 if k % 3 == 0 else 1 for k in range(n)]
    unit = total_bytes // sum(units)
    return [PlanAppliance(f"{site}-{k:02d}", unit * units[k]) for k in range(n)]


def plan(members: Sequence[PlanAppliance], titles: Sequence[CatalogTitle], scores: np.ndarray,
         previous: Mapping[str, Mapping[str, int]] | None = None, **policy: float) -> SitePlan:
    return plan_site("ams", members, titles, scores, previous or {}, PlanPolicy(**policy))


def held(sp: SitePlan) -> dict[str, dict[str, int]]:
    return {a: {e.title: e.bytes for e in entries} for a, entries in sp.manifests.items()}


def added_fraction(sp: SitePlan) -> float:
    planned = sum(c.bytes_planned for c in sp.changes.values())
    return sum(c.bytes_added for c in sp.changes.values()) / max(1, planned)


def placement(members: Sequence[PlanAppliance]) -> Placement:
    """What steering builds: weights are capacities in bytes."""
    return Placement(Member(a.id, float(a.capacity_bytes)) for a in members)


TITLES = catalog(600)
SCORES = zipf(600)
CATALOG_BYTES = sum(t.bytes for t in TITLES)


@pytest.mark.parametrize("ratio", [0.3, 0.8, 1.5, 4.0])
def test_capacity_is_never_exceeded(ratio: float) -> None:
    members = appliances(7, int(ratio * CATALOG_BYTES))
    capacity = {a.id: a.capacity_bytes for a in members}
    rng = np.random.default_rng(3)
    previous: dict[str, dict[str, int]] = {}
    scores = SCORES
    for step in range(4):  # re-plans with drift, a lost appliance and a new one
        sp = plan(members, TITLES, scores, previous)
        for ident, entries in sp.manifests.items():
            assert sum(e.bytes for e in entries) <= capacity[ident]
            assert len({e.title for e in entries}) == len(entries)
        previous = held(sp)
        scores = scores * np.exp(rng.normal(0, 0.5, len(scores)))
        members = members[1:] + [PlanAppliance(f"ams-new-{step}", members[0].capacity_bytes)]
        capacity = {a.id: a.capacity_bytes for a in members}


def test_hot_titles_get_more_replicas_and_the_tail_one() -> None:
    members = appliances(10, 20 * CATALOG_BYTES)
    sp = plan(members, TITLES, SCORES, replica_load_share=0.25)
    counts = np.array([len(sp.replicas[t.id]) for t in TITLES])
    by_popularity = counts[np.argsort(-SCORES, kind="stable")]
    share = SCORES.max() / SCORES.sum()  # about 10 % of all starts
    assert by_popularity[0] == np.ceil(share * 10 / 0.25) >= 4
    assert by_popularity[0] > by_popularity[1] > 1
    assert (np.diff(by_popularity) <= 0).all()  # never more replicas for a less popular title
    assert (by_popularity[100:] == 1).all()
    assert counts.min() == 1 and counts.max() <= len(members)
    assert sp.unplaced == ()


@pytest.mark.parametrize("fraction", [0.5, 0.8, 1.0])
def test_fill_pins_at_most_the_fill_fraction_of_each_disk(fraction: float) -> None:
    members = appliances(6, CATALOG_BYTES // 4)
    sp = plan(members, TITLES, SCORES, fill_fraction=fraction)
    used = {a.id: sum(e.bytes for e in sp.manifests[a.id]) for a in members}
    assert all(used[a.id] <= a.capacity_bytes * fraction for a in members)
    # The catalog does not fit, so the disks fill up to (about) their budget.
    assert sum(used.values()) > 0.9 * fraction * sum(a.capacity_bytes for a in members) - max(
        t.bytes for t in TITLES) * len(members)


def test_replica_counts_follow_shares_with_hysteresis() -> None:
    policy = PlanPolicy(replica_load_share=0.5, replica_hysteresis=0.5)
    scores = np.array([50.0, 30.0, 15.0, 5.0, 0.0])
    # ideal = share * 10 / 0.5 = [10, 6, 3, 1, 0]
    assert replica_counts(scores, 10, policy).tolist() == [10, 6, 3, 1, 1]
    # A previous count within a factor 1.5 of the ideal is kept; one outside it is not.
    previous = np.array([8, 5, 6, 0, 2])
    assert replica_counts(scores, 10, policy, previous).tolist() == [8, 5, 3, 1, 1]
    assert replica_counts(np.zeros(3), 4, policy).tolist() == [1, 1, 1]


@pytest.mark.parametrize("ratio", [0.5, 3.0])
def test_replicas_are_the_first_appliances_of_the_ranking_with_room(ratio: float) -> None:
    members = appliances(9, int(ratio * CATALOG_BYTES))
    sp = plan(members, TITLES, SCORES)
    p = placement(members)
    budget = PlanPolicy().fill_fraction
    free = {a.id: int(a.capacity_bytes * budget) - sum(e.bytes for e in sp.manifests[a.id]) for a in members}
    sizes = {t.id: t.bytes for t in TITLES}
    for title, replicas in sp.replicas.items():
        ranking = p.rank(title)
        positions = [ranking.index(a) for a in replicas]
        assert positions == sorted(positions)  # listed in ranking order
        skipped = [a for a in ranking[:positions[-1]] if a not in replicas]
        # Free room only shrinks during a fresh plan: a skipped appliance is still too full.
        assert all(free[a] < sizes[title] for a in skipped), title
    for title in sp.unplaced:
        assert all(f < sizes[title] for f in free.values())
    if ratio > 1:
        assert all(list(r) == p.rank(t)[:len(r)] for t, r in sp.replicas.items())


def test_plan_is_deterministic_whatever_the_input_order() -> None:
    members = appliances(6, int(0.7 * CATALOG_BYTES))
    first = plan(members, TITLES, SCORES)
    again = plan(members, TITLES, SCORES)
    perm = list(range(len(TITLES)))
    random.Random(5).shuffle(perm)
    shuffled = plan(list(reversed(members)), [TITLES[i] for i in perm], SCORES[perm])
    for other in (again, shuffled):
        assert other.manifests == first.manifests
        assert other.replicas == first.replicas
        assert other.unplaced == first.unplaced
    # Ties in popularity are broken by title id, not by position.
    flat = np.ones(len(TITLES))
    assert plan(members, TITLES, flat).manifests == plan(members, TITLES[::-1], flat).manifests


def test_a_cache_changes_nothing_but_time() -> None:
    sites = {"ams": appliances(5, CATALOG_BYTES), "fra": appliances(4, CATALOG_BYTES // 2, "fra")}
    popularity = {"ams": SCORES, "fra": SCORES[::-1].copy()}
    cache = HeadCache()
    cold = plan_fleet(sites, TITLES, popularity, {})
    for _ in range(2):  # a cold cache, then a warm one
        warm = plan_fleet(sites, TITLES, popularity, {}, cache=cache)
        for site in sites:
            assert warm.sites[site].manifests == cold.sites[site].manifests
    # New titles join the cached ones.
    more = TITLES + catalog(650, seed=9)[600:]
    grown = {s: np.concatenate([v, np.full(50, 1.0)]) for s, v in popularity.items()}
    assert plan_fleet(sites, more, grown, {}, cache=cache).sites["ams"].manifests == \
        plan_fleet(sites, more, grown, {}).sites["ams"].manifests


def test_replanning_the_same_inputs_moves_nothing() -> None:
    members = appliances(8, int(0.6 * CATALOG_BYTES))
    first = plan(members, TITLES, SCORES)
    second = plan(members, TITLES, SCORES, held(first))
    assert second.manifests == first.manifests
    assert all(c.bytes_added == c.bytes_deleted == 0 for c in second.changes.values())


@pytest.mark.parametrize("ratio", [0.5, 2.0])
def test_small_popularity_changes_move_almost_nothing(ratio: float) -> None:
    members = appliances(8, int(ratio * CATALOG_BYTES))
    first = plan(members, TITLES, SCORES)
    noisy = SCORES * np.exp(np.random.default_rng(2).normal(0, 0.05, len(SCORES)))  # +-5 %
    second = plan(members, TITLES, noisy, held(first))
    assert added_fraction(second) <= 0.005
    # Without the previous plan, the same noise reshuffles the full appliances' margins.
    assert added_fraction(plan(members, TITLES, noisy, held(first), displace_margin=0.0)) >= \
        added_fraction(second)


def test_a_much_hotter_new_title_takes_its_ideal_place_on_a_full_site() -> None:
    members = appliances(6, int(0.5 * CATALOG_BYTES))
    first = plan(members, TITLES, SCORES)
    hit = CatalogTitle("brand-new-hit", 2 * GB)
    titles = [*TITLES, hit]
    scores = np.append(SCORES, SCORES.max() * 0.3)
    second = plan(members, titles, scores, held(first))
    count = len(second.replicas[hit.id])
    assert list(second.replicas[hit.id]) == placement(members).rank(hit.id)[:count]
    # Room was made by displacing less popular titles only.
    by_id = dict(zip([t.id for t in titles], scores, strict=True))
    for ident, before in held(first).items():
        for title in set(before) - {e.title for e in second.manifests[ident]}:
            assert by_id[title] * 1.5 < by_id[hit.id]


def test_removing_an_appliance_moves_only_its_titles_when_there_is_room() -> None:
    members = appliances(8, 4 * CATALOG_BYTES)
    first = plan(members, TITLES, SCORES)
    gone = members[3]
    survivors = [a for a in members if a is not gone]
    second = plan(survivors, TITLES, SCORES, held(first))
    lost = {e.title for e in first.manifests[gone.id]}
    p = placement(survivors)
    for ident in (a.id for a in survivors):
        change = second.changes[ident]
        assert change.bytes_deleted == 0  # nothing leaves a surviving appliance
        new = {e.title for e in second.manifests[ident]} - {e.title for e in first.manifests[ident]}
        assert new <= lost  # only the lost appliance's titles arrive
    for title in lost:  # each lost replica went to the next appliance of the title's ranking
        kept = [a for a in first.replicas[title] if a != gone.id]
        assert list(second.replicas[title]) == p.rank(title)[:len(kept) + 1]


def test_removing_an_appliance_from_a_full_site_moves_about_what_it_held() -> None:
    members = appliances(8, int(0.6 * CATALOG_BYTES))
    first = plan(members, TITLES, SCORES)
    gone = members[3]
    survivors = [a for a in members if a is not gone]
    second = plan(survivors, TITLES, SCORES, held(first))
    lost_bytes = sum(e.bytes for e in first.manifests[gone.id])
    added = sum(second.changes[a.id].bytes_added for a in survivors)
    assert 0 < added <= lost_bytes
    # The lost titles displace the least popular ones; only a few of those, which then fit
    # into room left over elsewhere, hop between two survivors.
    lost = {e.title for e in first.manifests[gone.id]}
    sizes = {t.id: t.bytes for t in TITLES}
    hopped = 0
    for a in survivors:
        for title in {e.title for e in second.manifests[a.id]} - {e.title for e in first.manifests[a.id]}:
            if title not in lost:
                hopped += sizes[title]
    assert hopped <= 0.1 * lost_bytes


def test_a_new_appliance_takes_over_the_titles_that_rank_it_first() -> None:
    members = appliances(6, 6 * CATALOG_BYTES)
    first = plan(members, TITLES, SCORES)
    newcomer = PlanAppliance("ams-zz", members[1].capacity_bytes)
    grown = [*members, newcomer]
    second = plan(grown, TITLES, SCORES, held(first))
    p = placement(grown)
    for title, replicas in second.replicas.items():
        assert list(replicas) == p.rank(title)[:len(replicas)]  # exactly where steering looks
    for a in members:
        assert second.changes[a.id].bytes_added == 0  # titles only move onto the newcomer
    moved = second.changes[newcomer.id].titles_added
    assert 0.5 * len(TITLES) / 7 < moved < 1.5 * len(TITLES) / 7 * 1.3


def test_manifests_list_the_most_valuable_bytes_first() -> None:
    members = appliances(4, 3 * CATALOG_BYTES)
    sp = plan(members, TITLES, SCORES)
    score = {t.id: s for t, s in zip(TITLES, SCORES, strict=True)}
    for entries in sp.manifests.values():
        values = [score[e.title] / len(sp.replicas[e.title]) for e in entries]
        assert values == sorted(values, reverse=True)


def test_changes_report_bytes_to_add_and_delete() -> None:
    members = appliances(3, CATALOG_BYTES)
    previous = {members[0].id: {"title-0000": 5, "gone-title": 7}}
    sp = plan(members, TITLES, SCORES, previous)
    mine = {e.title: e.bytes for e in sp.manifests[members[0].id]}
    change = sp.changes[members[0].id]
    assert change.bytes_planned == sum(mine.values())
    assert change.bytes_deleted == 7 + (5 if "title-0000" not in mine else 0)
    assert change.bytes_added == sum(b for t, b in mine.items() if t not in previous[members[0].id])


def test_titles_larger_than_any_appliance_and_empty_appliances() -> None:
    members = [PlanAppliance("a", 10), PlanAppliance("b", 0), PlanAppliance("c", 4)]
    titles = [CatalogTitle("big", 11), CatalogTitle("mid", 6), CatalogTitle("small", 4)]
    sp = plan(members, titles, np.array([3.0, 2.0, 1.0]), fill_fraction=1.0)
    assert sp.unplaced == ("big",)
    assert "b" not in sp.manifests  # no capacity: not planned
    assert sum(e.bytes for e in sp.manifests["a"]) <= 10
    assert set(sp.replicas) == {"mid", "small"}
    assert isinstance(plan_fleet({"x": []}, titles, {}, {}), FillPlan)

"""Placement as steering uses it (FleetView + Ranker plans): properties that must always hold."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from steering.fleet import FleetView, Health
from steering.ranking import Ranker, RankingPolicy

from .fakes import TB, appliance

POLICY = RankingPolicy(default_site="s", max_appliance_urls=100)

ids_strategy = st.lists(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12),
    min_size=2,
    max_size=12,
    unique=True,
)
capacity_strategy = st.integers(min_value=0, max_value=8 * TB)
titles_strategy = st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=20)


def own_order(view: FleetView, title: str, site: str = "s") -> list[str]:
    return [c.appliance or "" for c in Ranker(POLICY, cache_size=4).plan(view, site, title).own]


@settings(max_examples=60, deadline=None)
@given(ids_strategy, st.data(), titles_strategy)
def test_order_of_appliances_in_the_fleet_state_never_matters(
    ids: list[str], data: st.DataObject, titles: list[str]
) -> None:
    caps = {i: data.draw(capacity_strategy) for i in ids}
    forward = FleetView(1, [appliance(i, "s", capacity=caps[i]) for i in ids])
    shuffled_ids = data.draw(st.permutations(ids))
    shuffled = FleetView(1, [appliance(i, "s", capacity=caps[i]) for i in shuffled_ids])
    for title in titles:
        assert own_order(forward, title) == own_order(shuffled, title)


@settings(max_examples=60, deadline=None)
@given(ids_strategy, st.data(), titles_strategy)
def test_an_appliance_going_down_moves_only_its_own_viewers(
    ids: list[str], data: st.DataObject, titles: list[str]
) -> None:
    gone = data.draw(st.sampled_from(ids))
    before = FleetView(1, [appliance(i, "s") for i in ids])
    after = FleetView(
        2, [appliance(i, "s", health=Health.DOWN if i == gone else Health.HEALTHY) for i in ids]
    )
    for title in titles:
        old, new = own_order(before, title), own_order(after, title)
        # Survivors keep their relative order: nothing moves between two appliances that both stay.
        assert new == [i for i in old if i != gone]
        if old[0] != gone:
            assert new[0] == old[0]


@settings(max_examples=40, deadline=None)
@given(ids_strategy, st.data(), titles_strategy)
def test_replicas_first_is_a_stable_partition_of_the_placement_order(
    ids: list[str], data: st.DataObject, titles: list[str]
) -> None:
    plain = FleetView(1, [appliance(i, "s") for i in ids])
    for title in titles:
        holders = set(data.draw(st.lists(st.sampled_from(ids), max_size=len(ids))))
        view = FleetView(1, [appliance(i, "s", titles=(title,) if i in holders else ()) for i in ids])
        order = own_order(plain, title)
        assert own_order(view, title) == [i for i in order if i in holders] + [
            i for i in order if i not in holders
        ]


def test_capacity_weights_are_respected() -> None:
    caps = {"a": 1 * TB, "b": 2 * TB, "c": 3 * TB, "d": 4 * TB}
    view = FleetView(1, [appliance(i, "s", capacity=c) for i, c in caps.items()])
    ranker = Ranker(POLICY)
    n = 20_000
    firsts = Counter(ranker.plan(view, "s", f"title-{k}").own[0].appliance for k in range(n))
    total = sum(caps.values())
    for ident, cap in caps.items():
        expected = n * cap / total
        assert abs(firsts[ident] - expected) < 0.05 * expected, (ident, firsts[ident], expected)


_CHILD = """
import json, sys
from steering.fleet import FleetView
from steering.ranking import Ranker, RankingPolicy
from tests.steering.fakes import appliance, TB
view = FleetView(1, [appliance(f"app-{i}", "s", capacity=(i % 3 + 1) * TB) for i in range(12)])
r = Ranker(RankingPolicy(default_site="s", max_appliance_urls=100))
print(json.dumps([[c.appliance for c in r.plan(view, "s", f"t{k}").own] for k in range(200)]))
"""


def test_the_same_ranking_in_every_process() -> None:
    view = FleetView(1, [appliance(f"app-{i}", "s", capacity=(i % 3 + 1) * TB) for i in range(12)])
    here = [own_order(view, f"t{k}") for k in range(200)]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for seed in ("1", "12345"):
        out = subprocess.run(
            [sys.executable, "-c", _CHILD],
            capture_output=True,
            text=True,
            check=True,
            cwd=root,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        assert json.loads(out) == here
